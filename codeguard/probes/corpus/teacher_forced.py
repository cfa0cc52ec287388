"""Teacher-forced scoring of a corpus by two models, streamed window by window.

Window rule (part of every baseline of these probes): each file is tokenized whole, without special tokens, and
cut into consecutive chunks of `ctx - len(start_ids)` tokens; a window is the model's start ids followed by one
chunk. The token at chunk position k is predicted from the window's start ids and chunk[:k], and it is scored when
k >= `min_context` (default 0: every chunk token). Nothing else is added inside a window, and no window crosses a
file boundary.

`min_context` is llama.cpp's convention when set to half the chunk: `llama-perplexity` scores only the second half of
each chunk, so that every scored token has at least half a window of context, and computes the output layer only
for those positions. The backends skip the rows before the first scored one where they can (llama.cpp, transformers
models), which is most of the cost saved: with a 49,152-token vocabulary the output layer is half a small model.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, replace
from functools import cached_property
from typing import ClassVar, Iterator

import numpy as np

from codeguard.errors import ProbeInputError
from codeguard.languages.corpus import Corpus
from codeguard.probes.corpus.pair_stats import Logits, PairStats, pair_stats, token_logprobs
from codeguard.probes.corpus.streaming import in_step, prefetched
from codeguard.probes.pairing import matching_start_ids, require_same_vocabulary

DEFAULT_CTX = 512
# Logits each model may have scored ahead of the statistics (a backend's batch in flight comes on top): enough for
# the zoo's batches of 4,096 tokens x 8,192 logits, two windows for a 150k vocabulary at ctx 512.
PREFETCH_BYTES = 256 << 20


@dataclass(frozen=True)
class TeacherForcedConfig:
    """Defines the windows (part of every baseline of the corpus probes)."""

    ctx: int | None = None        # None: DEFAULT_CTX, capped at the smaller maximum context of the two models
    corpus: str | None = None     # None: the shipped per-language corpus
    start_token: str | None = None
    min_context: int = 0          # chunk tokens a position needs before it is scored (llama.cpp's rule: ctx // 2)

    def __post_init__(self):
        if isinstance(self.min_context, bool) or not isinstance(self.min_context, int) or self.min_context < 0:
            raise ProbeInputError(f"min_context={self.min_context!r}: expected a whole number >= 0 (chunk tokens of "
                                  "context before a position is scored; 0 scores every position)")

    # probe_config keys added after baselines were accepted, with the value those baselines were measured with
    probe_config_defaults: ClassVar[dict] = {"min_context": 0}

    def probe_config(self) -> dict:
        """What a baseline of a corpus probe records of the windows (gating/gate.py check_probe_config)."""
        return {"ctx": self.ctx, "corpus": self.corpus or "shipped", "min_context": self.min_context}

    def key(self) -> dict:
        """What a baseline or a reference cache records of the windows (min_context only when set, so records made
        before it existed keep matching)."""
        return {"ctx": self.ctx, "start_token": self.start_token,
                **({"min_context": self.min_context} if self.min_context else {})}

    def resolved(self, ref, opt) -> "TeacherForcedConfig":
        return self.within_contexts(int(ref.max_context), int(opt.max_context))

    def within_contexts(self, *max_contexts: int) -> "TeacherForcedConfig":
        """ctx=None resolved against the models' maximum contexts (a reference cache knows only the number)."""
        if self.ctx is not None:
            return self
        return replace(self, ctx=min(DEFAULT_CTX, *max_contexts))


@dataclass
class EncodedFile:
    path: str
    language: str
    text: str
    ids: list[int]
    offsets: list[tuple[int, int]]

    def line_of_token(self, index: int) -> int:
        """1-based line of the token's first character."""
        char = self.offsets[index][0]
        return self.text.count("\n", 0, char) + 1

    @cached_property
    def _token_ends(self) -> list[int]:
        return [b for _, b in self.offsets]

    def tokens_overlapping(self, start: int, end: int) -> range:
        """Indexes of the tokens that overlap the character span [start, end)."""
        first = bisect.bisect_right(self._token_ends, start)
        last = first
        while last < len(self.offsets) and self.offsets[last][0] < end:
            last += 1
        return range(first, last)


@dataclass
class Window:
    file: int          # index into the encoded files
    first_token: int   # file token index of the first scored token
    ids: list[int]     # start ids + chunk
    first_row: int     # the position whose logits predict the first scored token (the same in every window)

    @property
    def targets(self) -> np.ndarray:
        """The scored tokens: row `first_row + k` of the window's logits predicts targets[k]."""
        return np.asarray(self.ids[self.first_row + 1:])


@dataclass
class ScoredWindow:
    """One window scored by both models: per-position statistics, and the logits for token lookups."""

    window: Window
    targets: np.ndarray         # chunk token ids, shape (n,)
    ref_logits: Logits          # (n, vocab) float32 on the device that scored it, row k predicts targets[k]
    opt_logits: Logits
    stats: PairStats            # per row: log-normalisers, top-1 tokens, KL(ref‖opt)

    def ref_logprobs(self, rows, tokens) -> np.ndarray:
        """ref's float64 log-probabilities of `tokens` at `rows`."""
        return token_logprobs(self.ref_logits, self.stats.lse_ref, rows, tokens)

    def opt_logprobs(self, rows, tokens) -> np.ndarray:
        return token_logprobs(self.opt_logits, self.stats.lse_opt, rows, tokens)


def encode_corpus(tokenizer, corpus: Corpus) -> list[EncodedFile]:
    """Every file tokenized whole by `tokenizer` (a model's `fast_tokenizer`), without special tokens."""
    files = []
    for f in corpus.files:
        encoding = tokenizer.encode(f.text, add_special_tokens=False)
        files.append(EncodedFile(str(f.path.relative_to(corpus.root)), f.language, f.text, encoding.ids,
                                 encoding.offsets))
    return files


def make_windows(files: list[EncodedFile], start_ids: list[int], ctx: int, min_context: int = 0) -> list[Window]:
    """The windows of the rule above; a chunk with no token at or beyond `min_context` gives none."""
    chunk = ctx - len(start_ids)
    if chunk < 1:
        raise ProbeInputError(f"ctx={ctx} leaves no room after the {len(start_ids)} start token(s); use ctx >= "
                              f"{len(start_ids) + 1}")
    if min_context >= chunk:
        raise ProbeInputError(f"min_context={min_context} leaves nothing to score in chunks of {chunk} tokens "
                              f"(ctx={ctx} less {len(start_ids)} start token(s)); use min_context < {chunk}, e.g. "
                              f"{chunk // 2} (llama.cpp's second half)")
    first_row = len(start_ids) - 1 + min_context
    return [Window(i, first + min_context, start_ids + f.ids[first:first + chunk], first_row)
            for i, f in enumerate(files) for first in range(0, len(f.ids), chunk)
            if len(f.ids) - first > min_context]


def first_row(windows: list[Window]) -> int:
    """The first row every window scores (what the backends are asked for)."""
    return windows[0].first_row if windows else 0


def check_context_length(model, ctx: int) -> None:
    limit = int(model.max_context)
    if ctx > limit:
        raise ProbeInputError(f"ctx={ctx} is larger than the maximum context of {model.spec} ({limit} positions"
                              f"{getattr(model, 'context_hint', '')}); use --ctx {limit} or less")


def prefetch_depth(ref, opt, ctx: int) -> int:
    """How many windows each model may score ahead: PREFETCH_BYTES of float32 logits (at least 2)."""
    per_window = ctx * max(int(ref.output_width), int(opt.output_width)) * 4
    return max(2, PREFETCH_BYTES // per_window)


def no_windows(corpus: Corpus, min_context: int) -> ProbeInputError:
    if min_context:
        return ProbeInputError(f"the corpus at {corpus.root} has no file longer than min_context={min_context} "
                               "tokens, so nothing would be scored; lower min_context or use longer files")
    return ProbeInputError(f"the corpus at {corpus.root} encodes to no tokens")


def score_windows(ref, opt, corpus: Corpus, ctx: int, start_token: str | None = None, min_context: int = 0):
    """Checks the pair, encodes the corpus and returns (files, windows, start ids, source, stream of scores)."""
    require_same_vocabulary(ref, opt)
    start_ids, source = matching_start_ids(ref, opt, start_token)
    for model in (ref, opt):
        check_context_length(model, ctx)
    files = encode_corpus(ref.fast_tokenizer, corpus)
    windows = make_windows(files, start_ids, ctx, min_context)
    if not windows:
        raise no_windows(corpus, min_context)

    def stream() -> Iterator[ScoredWindow]:
        id_lists, row = [w.ids for w in windows], first_row(windows)
        # Each model scores ahead in a thread of its own while this thread reduces the windows already scored
        # (torch's and ONNX Runtime's ops release the GIL). A model must be able to run a whole batch ahead: with
        # only two windows of slack, opt's next batch waited for the statistics of the current one and the probe
        # took 1.20x the bare forward passes; with both models a batch ahead, 1.08x (bench/RESULTS.md). Each
        # model's numbers are the same as unthreaded.
        depth = prefetch_depth(ref, opt, ctx)
        scores = in_step(windows, prefetched(ref.sequence_logits(id_lists, row), depth),
                         prefetched(opt.sequence_logits(id_lists, row), depth))
        for window, ref_logits, opt_logits in scores:
            # rows from `row` on: row k predicts targets[k]; the last position predicts past the window
            ref_logits, opt_logits = ref_logits[:-1], opt_logits[:-1]
            yield ScoredWindow(window, window.targets, ref_logits, opt_logits, pair_stats(ref_logits, opt_logits))
            del ref_logits, opt_logits  # not held while the next pair is fetched and reduced
    return files, windows, start_ids, source, stream()
