"""GGUF files through llama.cpp (llama-cpp-python): the `LanguageModel` protocol on a `.gguf` model.

The tokenizer is built from the file's own metadata (codeguard.tokenization.gguf, which tokenizes as llama.cpp does)
as a `tokenizers.Tokenizer`; the transformers wrapper the other probes use is built on first use. Logits come from
llama.cpp as numpy arrays, one sequence per context, on the CPU (or offloaded to a GPU) with a fixed thread count, so
results repeat. Neither torch nor transformers is imported on a GGUF pair's distribution probes on the CPU (`auto`
asks torch only on a machine with a GPU driver): 1.2 s and 0.19 GB of a run at llama.cpp's own scale
(bench/bench_llama_parity.py).
"""
from __future__ import annotations

import hashlib
import json
import weakref
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from codeguard.errors import ModelSpecError, NonFiniteLogitsError, ProbeInputError, TokenizerError
from codeguard.models.derive.gguf_convert import require_llama_cpp
from codeguard.models.devices import CPU, Placement
from codeguard.models.env_settings import available_cores, positive_int_from_env
from codeguard.models.logprobs import log_softmax, window_logprobs
from codeguard.models.sampling import row_generators
from codeguard.models.token_list import TokenListVocabulary
from codeguard.tokenization.gguf import read_gguf_metadata, tokenizer_from_gguf
from codeguard.tokenization.loader import transformers_tokenizer, wrapped_backend

BACKEND = "llama.cpp"
# llama.cpp allocates (and clears) the KV cache for the whole context a model is opened with, and reserves compute
# buffers for the largest micro-batch. Opened at a file's trained context (32,768 positions for Qwen2.5-Coder,
# 131,072 for Llama 3.1) a 7-8 B model's KV cache alone is 1.9-17 GB per model, for windows of 512 tokens and
# generations of a few hundred (bench/bench_gguf_context.py). So the context opens at DEFAULT_CONTEXT positions
# (or the trained length if shorter; $CODEGUARD_GGUF_CTX for more), and micro-batches hold MICRO_BATCH tokens,
# llama-perplexity's default: a 512-token window is one micro-batch either way.
DEFAULT_CONTEXT = 4096
MICRO_BATCH = 512
CONTEXT_VARIABLE = "CODEGUARD_GGUF_CTX"


def default_threads() -> int:
    """`$CODEGUARD_GGUF_THREADS`, else every core this process may run on."""
    return positive_int_from_env("CODEGUARD_GGUF_THREADS", "threads") or available_cores()


@dataclass
class GGUFCausalLM(TokenListVocabulary):
    """A GGUF model run by llama.cpp, with its tokenizer from the file's metadata."""

    spec: str
    fingerprint: str
    path: Path
    llama: object = field(repr=False)        # llama_cpp.Llama
    gguf_tokenizer: object = field(repr=False)  # codeguard.tokenization.gguf's, from the file's metadata
    backend_tokenizer: object = field(repr=False)  # tokenizers.Tokenizer: loader.wrapped_backend of it
    tokens: list[str] = field(repr=False)
    special: dict[str, int]
    n_threads: int
    details: dict = field(default_factory=dict)
    backend: str = BACKEND
    context_hint: str = ""  # appended to "longer than the model's context" errors when the context was capped
    tokenizers: "GGUFTokenizers | None" = field(default=None, repr=False)  # held, so shared_tokenizers' entry lives

    @classmethod
    def load(cls, path: str | Path, spec_text: str, fingerprint: str, details: dict | None = None,
             n_threads: int | None = None, placement: Placement = CPU) -> "GGUFCausalLM":
        """Opens `path` with llama.cpp, every layer offloaded to the GPU when the placement is one and the build
        can offload; errors name the spec and the file."""
        path = Path(path).expanduser()
        llama_cpp = require_llama_cpp(f"model spec {spec_text!r}")
        gpu_layers, used = _gpu_layers(llama_cpp, placement)
        try:
            metadata = read_gguf_metadata(path)
            tokenizers = shared_tokenizers(path, metadata)
        except TokenizerError as error:
            raise ModelSpecError(f"model spec {spec_text!r}: {error}") from None
        architecture = metadata.get("general.architecture", "?")
        trained = int(metadata.get(f"{architecture}.context_length") or 0) or DEFAULT_CONTEXT
        n_ctx = context_size(trained)
        threads = n_threads or default_threads()
        try:
            llama = llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, n_batch=n_ctx,
                                    n_ubatch=min(n_ctx, MICRO_BATCH), logits_all=True,
                                    n_threads=threads, n_threads_batch=threads, seed=0, verbose=False,
                                    n_gpu_layers=gpu_layers, main_gpu=placement.cuda_index or 0)
        except (ValueError, RuntimeError) as error:
            raise ModelSpecError(f"model spec {spec_text!r}: llama.cpp cannot load {path} (architecture "
                                 f"{architecture!r}): {error}") from None
        tokens, gguf_tokenizer = tokenizers.tokens, tokenizers.gguf_tokenizer
        if llama.n_vocab() != len(tokens):
            raise ModelSpecError(f"model spec {spec_text!r}: {path} has {len(tokens)} tokens in its vocabulary but "
                                 f"{llama.n_vocab()} output logits")
        info = {"path": str(path), "kind": "gguf", "architecture": architecture, "n_ctx": n_ctx,
                "n_ctx_trained": trained, "n_threads": threads, "file_type": metadata.get("general.file_type"),
                **(details or {}), "device": used}
        return cls(spec=spec_text, fingerprint=fingerprint, path=path, llama=llama, gguf_tokenizer=gguf_tokenizer,
                   backend_tokenizer=tokenizers.backend_tokenizer, tokens=tokens,
                   special=dict(gguf_tokenizer.special_tokens), n_threads=threads, details=info,
                   context_hint=_context_hint(n_ctx, trained), tokenizers=tokenizers)

    @property
    def hf_tokenizer(self):
        return self.tokenizers.hf_tokenizer

    @property
    def fast_tokenizer(self):
        return self.backend_tokenizer

    @property
    def max_context(self) -> int:
        """The longest window the model takes: the context length the file was trained with."""
        return int(self.llama.n_ctx())

    def _decode(self, ids: Sequence[int], where: str, first_row: int = 0) -> np.ndarray:
        """float32 logits of positions first_row.. of one sequence from an empty KV cache, as an array of their own,
        read straight from llama.cpp's output buffer.

        `Llama.eval` first copies every position's logits into its own (n_ctx, vocab) array, which we then copied
        again: for a 49,152-token vocabulary at ctx 512 that is 100 MB copied and kept resident per window and model
        for nothing (bench/bench_llama_parity.py). The same `llama_decode` of the same batch, so the same numbers.
        Only positions from `first_row` on are marked as outputs, so llama.cpp computes the output layer for those
        alone (as `llama-perplexity` does for the second half of each chunk); its buffer holds their rows in order.
        The KV cache keeps the sequence (`sample` continues from it)."""
        ids = self._checked(ids, where)
        if not 0 <= first_row < len(ids):
            raise ProbeInputError(f"{self.spec}: {where} has {len(ids)} tokens, none from position {first_row} on")
        self.llama.reset()  # and, for a recurrent model, its state
        return self._decode_at(ids, 0, first_row, where).copy()

    def _decode_at(self, ids: list[int], position: int, first_row: int, where: str) -> np.ndarray:
        """One `llama_decode` of `ids` placed at `position` of the KV cache (its cells from there on dropped first,
        as `Llama.eval` does), with outputs for rows first_row.. only; a view of their logits in llama.cpp's output
        buffer, valid until the next decode. llama-cpp-python's token count follows, so the next call continues."""
        llama = self.llama
        llama._ctx.kv_cache_seq_rm(-1, position, -1)
        llama._batch.set_batch(batch=ids, n_past=position, logits_all=True)
        for row in range(first_row):
            llama._batch.batch.logits[row] = False
        llama._ctx.decode(llama._batch)
        llama.input_ids[position:position + len(ids)] = ids
        llama.n_tokens = position + len(ids)
        out = np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(len(ids) - first_row, self.output_width))
        return self._finite(out, where)

    def _checked(self, ids: Sequence[int], where: str) -> list[int]:
        if len(ids) == 0:
            raise ProbeInputError(f"{self.spec}: every context needs at least one token id ({where})")
        if len(ids) > self.max_context:
            raise ProbeInputError(f"{self.spec}: {where} has {len(ids)} tokens, more than the model's context of "
                                  f"{self.max_context} positions{self.context_hint}")
        ids = [int(i) for i in ids]
        if min(ids) < 0 or max(ids) >= self.output_width:
            bad = next(i for i in ids if not 0 <= i < self.output_width)
            raise ProbeInputError(f"{self.spec}: token id {bad} in {where} is outside the vocabulary "
                                  f"(0..{self.output_width - 1})")
        return ids

    def _finite(self, logits: np.ndarray, where: str) -> np.ndarray:
        # A NaN/inf anywhere makes its row sum non-finite: far cheaper than isfinite over every logit.
        if not np.isfinite(logits.sum(axis=-1)).all():
            bad = ~np.isfinite(logits)
            first = [int(x) for x in np.argwhere(bad)[0]]
            raise NonFiniteLogitsError(
                f"{self.spec} ({self.backend}) produced {int(bad.sum())} non-finite logits ({where}, first at index "
                f"{first}); the model's weights or its derivation are broken")
        return logits

    def next_token_logprobs(self, contexts: Sequence[Sequence[int]]) -> np.ndarray:
        """float64 (n, vocab) log-probabilities of the token after each context."""
        if not contexts:
            raise ProbeInputError(f"{self.spec}: every context needs at least one token id (no contexts given)")
        rows = np.stack([self._decode(c, f"context {i}", len(c) - 1)[0].astype(np.float64)
                         for i, c in enumerate(contexts)])
        return log_softmax(rows)

    def sequence_logits(self, windows: Sequence[Sequence[int]], first_row: int = 0) -> Iterator[np.ndarray]:
        """Per-window (len - first_row, vocab) float32 logits of positions first_row.., finite-checked, streamed
        window by window as numpy arrays (no torch import on a GGUF pair's way)."""
        for index, window in enumerate(windows):
            yield self._decode(window, f"window {index}", first_row)

    def sequence_logprobs(self, windows: Sequence[Sequence[int]]) -> Iterator[np.ndarray]:
        """Per-window (len, vocab) float64 log-probabilities at every position, streamed window by window."""
        return window_logprobs(self.sequence_logits(windows))

    def sample(self, contexts: Sequence[Sequence[int]], max_new_tokens: int, temperature: float = 1.0,
               top_p: float = 1.0, seed: int = 0, stop_strings: Sequence[str] = (),
               row_seeds: Sequence | None = None) -> list[list[int]]:
        """Seeded sampling through llama.cpp's KV cache; returns only the new tokens of each row.

        As HFCausalLM.sample: temperature 0 is greedy, top-k is off, top-p keeps the smallest set of tokens whose
        mass reaches `top_p`; a row ends at EOS (not included), after `max_new_tokens`, where the context is full,
        or once its text contains a stop string (rows are truncated by the caller). Row r draws from its own
        generator seeded with `row_seeds[r]` (default (seed, r)), so a row's sample does not depend on the others.
        """
        if row_seeds is not None and len(row_seeds) != len(contexts):
            raise ProbeInputError(f"{self.spec}: {len(row_seeds)} row seeds for {len(contexts)} contexts")
        eos = self.special.get("eos")
        samples = []
        prompt, prompt_logits = None, None
        for row, context in enumerate(contexts):
            rng = row_generators([row_seeds[row] if row_seeds is not None else (seed, row)])[0]
            where = f"context {row}"
            # the rows of one problem share its prompt, scored once, unless the cache cannot drop the last row's
            # tokens (a recurrent model's state: llama_memory_seq_rm says so)
            if list(context) != prompt or not self.llama._ctx.kv_cache_seq_rm(-1, len(prompt), -1):
                prompt = list(context)
                prompt_logits = self._decode(prompt, where, len(prompt) - 1)[0]  # the last position's row only
            self.llama.n_tokens = len(prompt)
            logits = prompt_logits
            new: list[int] = []
            while len(new) < max_new_tokens:
                token = _choose(logits.astype(np.float64), temperature, top_p, rng)
                if token == eos:
                    break
                new.append(token)
                if stop_strings and any(s in self.hf_tokenizer.decode(new) for s in stop_strings):
                    break
                if self.llama.n_tokens >= self.max_context:
                    break
                # llama.cpp's output buffer: Llama.eval would also copy each step's row into its (n_ctx, vocab)
                # array, a fresh row per step (0.3 GB over 500 steps at 152 k tokens)
                logits = self._decode_at([token], self.llama.n_tokens, 0, f"{where}, generated token {len(new)}")[0]
            samples.append(new)
        return samples


@dataclass(eq=False)
class GGUFTokenizers:
    """A GGUF file's tokenizer in the forms the probes use, shared by the models loaded from files of one vocabulary
    (a model and its quantizations: a gate's pair): built once, 0.06 GB and 0.3 s a model at StarCoder's 49,152
    tokens (bench/bench_llama_parity.py). Its users only encode and decode."""

    gguf_tokenizer: object      # codeguard.tokenization.gguf's, from the file's metadata
    backend_tokenizer: object   # tokenizers.Tokenizer: loader.wrapped_backend of it
    tokens: list[str]

    @cached_property
    def hf_tokenizer(self):
        """The transformers wrapper, built on first use: the corpus probes need only the backend, and importing
        transformers was ~1.5 s of a GGUF pair's start-up."""
        return transformers_tokenizer(self.gguf_tokenizer, self.tokens, self.backend_tokenizer)


# The tokenizers of the models alive in this process, by what they are built from; an entry goes with the last model
# that holds it (a freed reference's with it).
_TOKENIZERS: "weakref.WeakValueDictionary[str, GGUFTokenizers]" = weakref.WeakValueDictionary()


def shared_tokenizers(path: Path, metadata: dict) -> GGUFTokenizers:
    """The tokenizers of a loaded model whose file holds the same tokenizer metadata (every `tokenizer.*` key and the
    model's name), else ones built from `path`; TokenizerError names the file."""
    key = hashlib.sha256(json.dumps({k: v for k, v in metadata.items()
                                     if k.startswith("tokenizer.") or k == "general.name"},
                                    sort_keys=True, default=str).encode()).hexdigest()
    tokenizers = _TOKENIZERS.get(key)
    if tokenizers is None:
        gguf_tokenizer = tokenizer_from_gguf(path)
        tokens = [str(t) for t in metadata["tokenizer.ggml.tokens"]]
        tokenizers = GGUFTokenizers(gguf_tokenizer, wrapped_backend(gguf_tokenizer, tokens), tokens)
        _TOKENIZERS[key] = tokenizers
    return tokenizers


def context_size(trained: int) -> int:
    """The positions llama.cpp's context opens with: $CODEGUARD_GGUF_CTX, else DEFAULT_CONTEXT, never more than the
    model was trained for."""
    return min(trained, positive_int_from_env(CONTEXT_VARIABLE, "positions") or DEFAULT_CONTEXT)


def _context_hint(n_ctx: int, trained: int) -> str:
    if n_ctx >= trained:
        return ""
    return (f" (llama.cpp's context was opened at {n_ctx:,} of the {trained:,} positions the model was trained for; "
            f"{CONTEXT_VARIABLE}=N opens more, and the KV cache grows with it)")


def _gpu_layers(llama_cpp, placement: Placement) -> tuple[int, str]:
    """(n_gpu_layers, device used): every layer on the GPU when asked for and the build can offload; a GPU named
    explicitly that this build cannot use is an error, under `auto` llama.cpp stays on the CPU."""
    if not placement.is_gpu:
        return 0, "cpu"
    if llama_cpp.llama_supports_gpu_offload():
        return -1, placement.device
    if placement.explicit:
        raise placement.unusable(f"llama-cpp-python {getattr(llama_cpp, '__version__', '')}".strip(),
                                 "this build has no GPU offload (llama_supports_gpu_offload() is False)",
                                 "reinstall it with GPU support, e.g. CMAKE_ARGS=\"-DGGML_CUDA=on\" pip install "
                                 "--force-reinstall --no-cache-dir llama-cpp-python")
    return 0, "cpu"


def _choose(logits: np.ndarray, temperature: float, top_p: float, rng: np.random.Generator) -> int:
    if temperature <= 0:
        return int(np.argmax(logits))
    scaled = logits / temperature
    probs = np.exp(scaled - scaled.max())
    probs /= probs.sum()
    order = np.argsort(-probs, kind="stable")
    sorted_probs = probs[order]
    if top_p < 1.0:
        # keep each token whose predecessors' mass is still below top_p (at least the first)
        keep = np.cumsum(sorted_probs) - sorted_probs < top_p
        order, sorted_probs = order[keep], sorted_probs[keep]
    cumulative = np.cumsum(sorted_probs)
    index = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
    return int(order[min(index, len(order) - 1)])
