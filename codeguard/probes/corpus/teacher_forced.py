"""Teacher-forced scoring of a corpus by two models, streamed window by window.

Window rule (part of every baseline of these probes): each file is tokenized whole, without special tokens, and
cut into consecutive chunks of `ctx - len(start_ids)` tokens; a window is the model's start ids followed by one
chunk. Every chunk token is scored: the token at chunk position k is predicted from the window's start ids and
chunk[:k]. Nothing else is added inside a window, and no window crosses a file boundary.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Iterator

import numpy as np
import torch

from codeguard.errors import ProbeInputError
from codeguard.languages.corpus import Corpus
from codeguard.probes.corpus.pair_stats import PairStats, pair_stats, token_logprobs
from codeguard.probes.corpus.streaming import prefetched
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
    first_token: int   # file token index of chunk[0]
    ids: list[int]     # start ids + chunk


@dataclass
class ScoredWindow:
    """One window scored by both models: per-position statistics, and the logits for token lookups."""

    window: Window
    targets: np.ndarray         # chunk token ids, shape (n,)
    ref_logits: torch.Tensor    # (n, vocab) float32 on the device that scored it, row k predicts targets[k]
    opt_logits: torch.Tensor
    stats: PairStats            # per row: log-normalisers, top-1 tokens, KL(ref‖opt)

    def ref_logprobs(self, rows, tokens) -> np.ndarray:
        """ref's float64 log-probabilities of `tokens` at `rows`."""
        return token_logprobs(self.ref_logits, self.stats.lse_ref, rows, tokens)

    def opt_logprobs(self, rows, tokens) -> np.ndarray:
        return token_logprobs(self.opt_logits, self.stats.lse_opt, rows, tokens)


def encode_corpus(tokenizer, corpus: Corpus) -> list[EncodedFile]:
    files = []
    for f in corpus.files:
        encoding = tokenizer.backend_tokenizer.encode(f.text, add_special_tokens=False)
        files.append(EncodedFile(str(f.path.relative_to(corpus.root)), f.language, f.text, encoding.ids,
                                 encoding.offsets))
    return files


def make_windows(files: list[EncodedFile], start_ids: list[int], ctx: int) -> list[Window]:
    chunk = ctx - len(start_ids)
    if chunk < 1:
        raise ProbeInputError(f"ctx={ctx} leaves no room after the {len(start_ids)} start token(s); use ctx >= "
                              f"{len(start_ids) + 1}")
    return [Window(i, first, start_ids + f.ids[first:first + chunk])
            for i, f in enumerate(files) for first in range(0, len(f.ids), chunk)]


def check_context_length(model, ctx: int) -> None:
    limit = int(model.max_context)
    if ctx > limit:
        raise ProbeInputError(f"ctx={ctx} is larger than the maximum context of {model.spec} ({limit} positions); "
                              f"use --ctx {limit} or less")


def prefetch_depth(ref, opt, ctx: int) -> int:
    """How many windows each model may score ahead: PREFETCH_BYTES of float32 logits (at least 2)."""
    per_window = ctx * max(int(ref.output_width), int(opt.output_width)) * 4
    return max(2, PREFETCH_BYTES // per_window)


def score_windows(ref, opt, corpus: Corpus, ctx: int, start_token: str | None = None):
    """Checks the pair, encodes the corpus and returns (files, windows, start ids, source, stream of scores)."""
    require_same_vocabulary(ref, opt)
    start_ids, source = matching_start_ids(ref, opt, start_token)
    for model in (ref, opt):
        check_context_length(model, ctx)
    files = encode_corpus(ref.tokenizer, corpus)
    windows = make_windows(files, start_ids, ctx)
    if not windows:
        raise ProbeInputError(f"the corpus at {corpus.root} encodes to no tokens")

    def stream() -> Iterator[ScoredWindow]:
        n = len(start_ids)
        id_lists = [w.ids for w in windows]
        # opt is scored ahead in a thread, so the two models' forward passes overlap (an ONNX Runtime session
        # runs on one thread; torch's ops release the GIL). Each model's numbers are the same as unthreaded.
        # Each model scores ahead in a thread of its own while this thread reduces the windows already scored
        # (torch's and ONNX Runtime's ops release the GIL). A model must be able to run a whole batch ahead: with
        # only two windows of slack, opt's next batch waited for the statistics of the current one and the probe
        # took 1.20x the bare forward passes; with both models a batch ahead, 1.08x (bench/RESULTS.md). Each
        # model's numbers are the same as unthreaded.
        depth = prefetch_depth(ref, opt, ctx)
        scores = zip(prefetched(ref.sequence_logits(id_lists), depth), prefetched(opt.sequence_logits(id_lists), depth))
        for window, (ref_logits, opt_logits) in zip(windows, scores):
            # position n-1+k (after start ids and chunk[:k]) predicts chunk[k]
            ref_logits, opt_logits = ref_logits[n - 1:-1], opt_logits[n - 1:-1]
            yield ScoredWindow(window, np.asarray(window.ids[n:]), ref_logits, opt_logits,
                               pair_stats(ref_logits, opt_logits))
    return files, windows, start_ids, source, stream()
