"""HF-style causal LMs behind the protocol: transformers (PyTorch) and Optimum's ORTModelForCausalLM expose the
same forward/generate API, so both are one class; they differ only in how they load (`codeguard.models.loading`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numpy as np
import torch

from codeguard.errors import DeviceError, NonFiniteLogitsError, ProbeInputError
from codeguard.models.devices import release_memory
from codeguard.models.logprobs import window_logprobs
from codeguard.models.window_batches import windows_per_call


@dataclass
class HFCausalLM:
    """A causal LM with a HF forward/generate API (PyTorch or ONNX Runtime) and its fast tokenizer."""

    spec: str
    fingerprint: str
    backend: str
    model: object
    hf_tokenizer: object
    details: dict = field(default_factory=dict)
    batch_size: int = 16
    token_budget: int = 4096  # padded tokens per forward pass
    windows_per_call: int = 0  # corpus windows per forward call; 0: by tokens and memory (models/window_batches.py)

    @property
    def tokenizer(self):
        return self.hf_tokenizer

    @property
    def fast_tokenizer(self):
        """The `tokenizers.Tokenizer` that encodes text (what the corpus probes use)."""
        return self.hf_tokenizer.backend_tokenizer

    @property
    def samples_across_problems(self) -> bool:
        """Whether pass@k may put many problems' rows in one sample() call without changing any completion.

        Not for ONNX Runtime: its dynamic int8 quantizes activations per tensor, over every row of the batch, so a
        row's tokens depend on its batch-mates (measured: 163 of 200 completions kept with 64-row batches). There
        each call holds one problem's n rows, as before.
        """
        return self.backend != "onnxruntime"

    @property
    def device(self):
        """Where input ids go: the model's (first) device. Log-probabilities come back on the CPU; corpus windows'
        logits stay on the device the model scored them on (the probes reduce them there)."""
        return getattr(self.model, "device", None) or torch.device("cpu")

    def _on_device(self, *tensors):
        device = self.device
        return tensors if device.type == "cpu" else tuple(t if t is None else t.to(device) for t in tensors)

    @property
    def output_width(self) -> int:
        return int(self.model.config.vocab_size)

    @property
    def max_context(self) -> int:
        """The longest window the model takes (its config's max_position_embeddings; unbounded when absent)."""
        return int(getattr(self.model.config, "max_position_embeddings", None) or 1 << 30)

    def vocabulary(self) -> list[str]:
        """Token strings for ids 0..output_width-1; ids past the tokenizer's end (padding rows) get placeholders.

        Built once per model (a 152k vocabulary takes ~1.2 s, and one gate asks several times); each caller gets
        its own copy of the list."""
        cached = self.__dict__.get("_vocabulary")
        if cached is None:
            n_tok = len(self.hf_tokenizer)
            tokens = self.hf_tokenizer.convert_ids_to_tokens(list(range(min(n_tok, self.output_width))))
            cached = [t if t is not None else f"<unk:{i}>" for i, t in enumerate(tokens)] + [
                f"<unused:{i}>" for i in range(n_tok, self.output_width)]
            self.__dict__["_vocabulary"] = cached
        return list(cached)

    def special_tokens(self) -> dict[str, int]:
        tok = self.hf_tokenizer
        names = {"bos": tok.bos_token, "eos": tok.eos_token, "pad": tok.pad_token, "unk": tok.unk_token}
        return {name: tok.convert_tokens_to_ids(value) for name, value in names.items() if value is not None}

    def start_ids(self, start_token: str | None = None) -> tuple[list[int], str]:
        """The cold-start context: the configured token, else BOS where the tokenizer has one, else EOS.

        Returns the ids and where they came from, recorded in results and baselines.
        """
        tok = self.hf_tokenizer
        if start_token is not None:
            token_id = tok.convert_tokens_to_ids(start_token)
            if token_id is None or token_id == tok.unk_token_id and start_token != tok.unk_token:
                raise ProbeInputError(f"start token {start_token!r} is not in the vocabulary of {self.spec}")
            return [int(token_id)], f"configured:{start_token}"
        if tok.bos_token_id is not None:
            return [int(tok.bos_token_id)], f"bos:{tok.bos_token}"
        if tok.eos_token_id is not None:
            return [int(tok.eos_token_id)], f"eos-as-start:{tok.eos_token}"
        raise ProbeInputError(f"{self.spec}: the tokenizer has neither BOS nor EOS; pass a start token "
                              "(--codeguard-start-token TOKEN)")

    def _padded(self, contexts: Sequence[Sequence[int]]):
        """Left-pads contexts with explicit position ids (GPT-2's logits are off by up to 1.17 without them)."""
        width = max(len(c) for c in contexts)
        pad = self.hf_tokenizer.pad_token_id if self.hf_tokenizer.pad_token_id is not None else 0
        ids = torch.full((len(contexts), width), pad, dtype=torch.long)
        mask = torch.zeros((len(contexts), width), dtype=torch.long)
        for row, context in enumerate(contexts):
            ids[row, width - len(context):] = torch.tensor(list(context), dtype=torch.long)
            mask[row, width - len(context):] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        return ids, mask, positions

    def next_token_logprobs(self, contexts: Sequence[Sequence[int]]) -> np.ndarray:
        if not contexts or any(len(c) == 0 for c in contexts):
            raise ProbeInputError(f"{self.spec}: every context needs at least one token id")
        rows = []
        # Short contexts (keyword prefixes) go many to a forward pass; long ones (corpus windows) fewer.
        per_batch = max(self.batch_size, self.token_budget // max(len(c) for c in contexts))
        # Only the last position's logits are read: computing the output layer at every position would hold
        # token_budget x vocabulary logits (2.5 GB at 152 k tokens) for one row each.
        extra = {"logits_to_keep": 1} if self._keeps_last_logits() else {}
        for start in range(0, len(contexts), per_batch):
            ids, mask, positions = self._on_device(*self._padded(contexts[start:start + per_batch]))
            with torch.inference_mode():
                logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                                    **extra).logits[:, -1, :]
            rows.append(logits.detach().cpu().to(torch.float64))  # widened on the host: MPS has no float64
        logits = torch.cat(rows)
        self._check_finite(logits, "next-token logits")
        return torch.log_softmax(logits, dim=-1).numpy()

    def _check_finite(self, logits: torch.Tensor, where: str) -> None:
        bad = ~torch.isfinite(logits)
        if bad.any():
            first = [int(x) for x in bad.nonzero()[0]]
            raise NonFiniteLogitsError(
                f"{self.spec} ({self.backend}) produced {int(bad.sum())} non-finite logits ({where}, first at index "
                f"{first}); the model's weights or its derivation are broken")

    def forward_windows(self, windows: Sequence[Sequence[int]],
                        first_row: int = 0) -> Iterator[tuple[int, list, torch.Tensor]]:
        """Raw logits of right-padded window batches from position `first_row` on: yields (first window index,
        windows, logits). A transformers model computes its output layer only from `first_row` on
        (`logits_to_keep`); an ONNX model computes every row, and those before it are dropped.

        Batches stay under a token budget and a logit budget (`models/window_batches.py`: fixed on the host, by
        free memory on a GPU), so memory is bounded for long corpora and large vocabularies; causal attention never
        sees the right padding. A GPU batch that runs out of memory is halved and retried.
        """
        longest = max(len(w) for w in windows)
        per_batch = min(len(windows), self.windows_per_call or windows_per_call(
            longest, self.output_width, self.token_budget, self._free_gpu_bytes()))
        start = 0
        while start < len(windows):
            batch = list(windows[start:start + per_batch])
            try:
                logits = self._window_logits(batch, first_row)
            except torch.OutOfMemoryError:
                logits = None  # handled below, once the exception (and the failed call's tensors) are gone
            if logits is None:
                if per_batch == 1:
                    raise DeviceError(
                        f"{self.spec}: one window of {longest} tokens does not fit in the free memory of "
                        f"{self.device} ({self.output_width} logits a position); score a shorter context (ctx) or "
                        "hold one model at a time on the GPU (--codeguard-reference-first)")
                per_batch //= 2
                release_memory()
                continue
            # The logits stay where the model ran: the probes reduce them there (probes/corpus/pair_stats.py) and
            # bring back only a few numbers per position.
            yield start, batch, logits
            del logits  # not held while the next batch is scored
            start += len(batch)

    def _window_logits(self, batch: list, first_row: int = 0) -> torch.Tensor:
        """One forward call over right-padded windows: (windows, longest - first_row, vocabulary) logits on the
        model's device."""
        pad = self.hf_tokenizer.pad_token_id if self.hf_tokenizer.pad_token_id is not None else 0
        width = max(len(w) for w in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, window in enumerate(batch):
            ids[row, :len(window)] = torch.tensor(list(window), dtype=torch.long)
            mask[row, :len(window)] = 1
        positions = torch.arange(width).unsqueeze(0).expand(len(batch), -1)
        ids, mask, positions = self._on_device(ids, mask, positions)
        # right padding: rows first_row.. of every window are within the last (width - first_row) positions
        keep = {"logits_to_keep": width - first_row} if first_row and self._keeps_last_logits() else {}
        with torch.inference_mode():  # exited before the caller sees the logits: its code must not run in it
            logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, **keep).logits
        return logits if keep else logits[:, first_row:]

    def _free_gpu_bytes(self) -> int | None:
        """Free memory of the CUDA GPU the model runs on (None on the host and on MPS, whose budget is the host's)."""
        device = torch.device(self.device)
        return torch.cuda.mem_get_info(device)[0] if device.type == "cuda" else None

    def sequence_logits(self, windows: Sequence[Sequence[int]], first_row: int = 0) -> Iterator[torch.Tensor]:
        """Per-window (len - first_row, vocab) float32 logits of positions first_row.., finite-checked, streamed
        window by window, on the model's device.

        The corpus probes reduce these in float64 themselves (probes/pair_stats.py), so no full float64
        log-softmax is ever materialised for them.
        """
        for start, batch, logits in self.forward_windows(windows, first_row):
            for row, window in enumerate(batch):
                window_logits = logits[row, :len(window) - first_row]
                # A NaN/inf anywhere makes its row sum non-finite: 25x cheaper than isfinite over the rows.
                if not bool(torch.isfinite(window_logits.sum(dim=-1)).all()):
                    self._check_finite(window_logits, f"window {start + row}")
                yield window_logits
                del window_logits
            del logits  # this batch's logits are not held while the next batch is scored (a window: 311 MB at 152 k)

    def sequence_logprobs(self, windows: Sequence[Sequence[int]]) -> Iterator[np.ndarray]:
        """Per-window (len, vocab) float64 log-probabilities at every position, streamed window by window."""
        return window_logprobs(self.sequence_logits(windows))

    def sample(self, contexts: Sequence[Sequence[int]], max_new_tokens: int, temperature: float = 1.0,
               top_p: float = 1.0, seed: int = 0, stop_strings: Sequence[str] = (),
               row_seeds: Sequence | None = None) -> list[list[int]]:
        """Seeded, batched sampling through the model's KV cache; returns only the new tokens of each row.

        Row r draws from its own stream seeded with `row_seeds[r]` (default: (seed, r)), so its sample does not
        depend on the other rows. Temperature 0 is greedy, top-k is off. A row ends at EOS (not included), after
        `max_new_tokens`, where the model's context is full, or once its new text contains a stop string (rows
        are truncated by the caller); finished rows leave the batch (and the cache) at once.
        """
        seeds = list(row_seeds) if row_seeds is not None else [(seed, row) for row in range(len(contexts))]
        if len(seeds) != len(contexts):
            raise ProbeInputError(f"{self.spec}: {len(seeds)} row seeds for {len(contexts)} contexts")
        if not contexts:
            return []
        if any(len(c) == 0 for c in contexts):
            raise ProbeInputError(f"{self.spec}: every context needs at least one token id")
        samples: list[list[int]] = [[] for _ in contexts]
        # Prompt logits at every position are (rows, width, vocab): bound them where the model cannot skip them.
        width = max(len(c) for c in contexts)
        per_batch = len(contexts) if self._keeps_last_logits() else \
            max(1, (1 << 27) // (width * self.output_width))
        for start in range(0, len(contexts), per_batch):
            rows = list(range(start, min(start + per_batch, len(contexts))))
            for row, new in zip(rows, self._decode([contexts[r] for r in rows], [seeds[r] for r in rows],
                                                   max_new_tokens, temperature, top_p, stop_strings)):
                samples[row] = new
        return samples

    def _keeps_last_logits(self) -> bool:
        """True for transformers models that compute the prompt's last logits only (`logits_to_keep`)."""
        import inspect
        return self.backend == "torch" and "logits_to_keep" in inspect.signature(self.model.forward).parameters

    def _decode(self, contexts, seeds, max_new_tokens, temperature, top_p, stop_strings) -> list[list[int]]:
        """One batch's decode loop: one forward pass and one sampling step per token for every row still active."""
        from codeguard.models.sampling import choose_tokens, row_generators
        generators = row_generators(seeds)
        budgets = [min(max_new_tokens, self.max_context - len(c)) for c in contexts]
        eos = self.hf_tokenizer.eos_token_id
        tail = 2 * max((len(s) for s in stop_strings), default=0) + 4  # tokens enough to hold a new stop string
        new: list[list[int]] = [[] for _ in contexts]
        active = [row for row, budget in enumerate(budgets) if budget > 0]
        if not active:
            return new
        # The n samples of a problem share their prompt: its prefill runs once, alone (no padding beside other
        # prompts: dynamic int8 quantizes activations per tensor, so a padded batch would change a prompt's logits),
        # and its cache is copied to its n rows, left-padded to the longest prompt.
        unique: dict[tuple[int, ...], int] = {}
        first_of = [unique.setdefault(tuple(contexts[row]), len(unique)) for row in active]
        extra = {"logits_to_keep": 1} if self._keeps_last_logits() else {}
        with torch.inference_mode():
            prefills = [self._step(*self._padded([list(prompt)]), None, extra) for prompt in unique]
            logits = torch.cat([step_logits for step_logits, _ in prefills])[first_of]
            past, mask, in_place = self._merged_caches([cache for _, cache in prefills], [len(p) for p in unique],
                                                       first_of)
            # With SDPA and full attention, a decode step's mask is just the padding mask: passed as the 4D mask
            # transformers would build (it builds it with vmap, ~25 % of a step on the zoo models), or as None
            # where no row is padded, as transformers does.
            own_mask = in_place and getattr(self.model.config, "_attn_implementation", None) == "sdpa"
            padded = not bool(mask.all())
            positions = torch.tensor([[len(contexts[row]) - 1] for row in active], dtype=torch.long)
            while True:
                tokens = choose_tokens(logits, temperature, top_p, [generators[r] for r in active])
                keep = []
                for index, (row, token) in enumerate(zip(active, tokens)):
                    if token == eos:
                        continue
                    new[row].append(token)
                    if len(new[row]) < budgets[row]:
                        keep.append(index)
                if stop_strings and keep:
                    tails = self._decode_all([new[active[index]][-tail:] for index in keep])
                    keep = [index for index, text in zip(keep, tails) if not any(s in text for s in stop_strings)]
                if not keep:
                    return new
                if len(keep) < len(active):  # finished rows leave the batch and the cache
                    past = _select_rows(past, keep)
                    mask, positions = mask[keep], positions[keep]
                    padded = padded and not bool(mask.all())
                active = [active[i] for i in keep]
                ids = torch.tensor([[new[row][-1]] for row in active], dtype=torch.long)
                mask = torch.cat([mask, torch.ones((len(active), 1), dtype=torch.long)], dim=1)
                positions = positions + 1
                step_mask = mask if not own_mask else mask.bool()[:, None, None, :] if padded else None
                logits, past = self._step(ids, step_mask, positions, past, {})

    def _decode_all(self, rows: list[list[int]]) -> list[str]:
        """The text of each row, as the tokenizer's decode() gives it: a fast tokenizer's Rust backend decodes the
        rows directly (transformers' decode() per row and step cost ~10 % of a decode step on the zoo models; the
        backend's decode_batch runs a thread pool that a loaded machine makes slower than this loop)."""
        tok = self.hf_tokenizer
        from transformers import PreTrainedTokenizerFast
        if not isinstance(tok, PreTrainedTokenizerFast) or type(tok)._decode is not PreTrainedTokenizerFast._decode:
            return [tok.decode(row) for row in rows]
        texts = [tok._tokenizer.decode(row, skip_special_tokens=False) for row in rows]
        return [tok.clean_up_tokenization(text) for text in texts] if tok.clean_up_tokenization_spaces else texts

    def _merged_caches(self, caches, lengths: list[int], rows: list[int]):
        """One cache for `rows` (indices into `caches`) from single-prompt caches, left-padded with zeros to the
        longest prompt, the attention mask that hides the padding, and whether the cache appends in place
        (`codeguard.models.kv_cache`: transformers models with full attention only)."""
        width = max(lengths)
        layers = [[(layer.keys, layer.values) for layer in cache.layers] if hasattr(cache, "layers") else
                  [tuple(layer) for layer in cache] for cache in caches]
        merged = []
        for depth in range(len(layers[0])):
            pair = []
            for part in range(2):
                padded = [torch.nn.functional.pad(per_prompt[depth][part], (0, 0, width - length, 0))
                          for per_prompt, length in zip(layers, lengths)]
                pair.append(torch.cat(padded)[rows])
            merged.append(tuple(pair))
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for index, row in enumerate(rows):
            mask[index, width - lengths[row]:] = 1
        if hasattr(caches[0], "layers"):
            from codeguard.models.kv_cache import sampling_cache
            cache, in_place = sampling_cache(merged, self.model.config)
            return cache, mask, in_place
        return tuple(merged), mask, False

    def _step(self, ids, mask, positions, past, extra):
        """One forward pass through the cache: the last position's logits (finite-checked) and the new cache."""
        ids, mask, positions = self._on_device(ids, mask, positions)
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=past,
                         use_cache=True, **extra)
        logits = out.logits[:, -1, :]
        # A NaN/inf anywhere makes its row sum non-finite: far cheaper than isfinite over every logit.
        if not bool(torch.isfinite(logits.sum(dim=-1)).all()):
            self._check_finite(logits, "sampling")
        return logits, out.past_key_values


def _select_rows(past, keep: list[int]):
    """The KV cache of the rows kept: a transformers Cache in place, or Optimum's tuples of (key, value) tensors."""
    if hasattr(past, "batch_select_indices"):
        past.batch_select_indices(torch.tensor(keep, dtype=torch.long))
        return past
    return tuple(tuple(t[keep] for t in layer) if isinstance(layer, (tuple, list)) else layer[keep] for layer in past)
