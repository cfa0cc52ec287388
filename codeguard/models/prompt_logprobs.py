"""Teacher-forced scoring through an OpenAI-compatible server: the prompt log-probabilities of `echo`.

`/v1/completions` with `echo: true, logprobs: K` returns, for every prompt token, the log-probability of that
token given the tokens before it, and the K most likely tokens there. So for a window scored on a served model:

- the log-probability of the actual next token is the model's own (exact: perplexity, keyword Δlog p);
- the top-1 token is the model's own (exact: same-top share, top-1 lost), wherever its text names one token;
- the rest of the distribution is unknown: a row holds the top K and the actual token exactly and spreads the
  remaining mass uniformly over every other token, as `next_token_logprobs` does, so KL divergence from it is an
  approximation (marked so in results, refused by the gate).

A row is dense (positions x vocabulary, float32): the same memory as a local model's logits for the same window
(512 x 8192 x 4 bytes = 16 MiB for the zoo; the probes hold one window per model at a time), and the probes then
read a served model exactly as a local one.

Servers differ in where the echoed list starts. The OpenAI form (vLLM) has one entry per prompt token, the first
without a log-probability (nothing precedes it). llama-cpp-python's server (0.3.x) drops a leading BOS from the
list and then blanks the first remaining entry, so the actual token after BOS has no log-probability there; and
without a leading BOS its list is one position off (each token paired with the distribution that predicts the
next one), so windows sent to it must start with BOS. A blank position is asked for on its own: one completion
of that context with the actual token forced by `logit_bias` (llama-cpp-python reports log-probabilities from the
unbiased logits), cached per context.
"""
from __future__ import annotations

import math
import threading
from typing import Sequence

import numpy as np

from codeguard.errors import EndpointError, ProbeInputError

FORCE_BIAS = 100.0


def entry_pairs(entry) -> list[tuple[str, float]]:
    """(token text, log-probability) pairs of one top-logprobs entry: a dict (OpenAI's legacy form) or a list."""
    if isinstance(entry, dict):
        return [(str(name), float(value)) for name, value in entry.items()]
    return [(str(item.get("token")), float(item.get("logprob"))) for item in entry or []]


class PromptScorer:
    """Scores windows of one served model (`model`: an OpenAIEndpointLM) through echoed prompt log-probabilities."""

    def __init__(self, model):
        self.model = model
        self.filled: dict[tuple[tuple[int, ...], int], tuple[float, dict[int, float]]] = {}
        self.unresolved_top1 = 0
        self.filled_requests = 0
        self._lock = threading.Lock()  # windows are scored on the model's thread pool

    @property
    def drops_bos(self) -> bool:
        return self.model.echo_drops_bos

    def window_rows(self, index: int, window: Sequence[int]) -> np.ndarray:
        """float32 (len(window), vocab) log-probability rows; row r predicts window[r + 1] (the last row, the token
        after the window, is filled only where the server returns it; the probes never read it)."""
        model, ids = self.model, [int(i) for i in window]
        where = f"window {index}"
        bos = model.special.get("bos")
        if self.drops_bos and ids[0] != bos:
            raise ProbeInputError(
                f"{model.spec}: {where} starts with token {ids[0]}, not BOS ({bos}); llama-cpp-python's server pairs "
                "echoed prompt log-probabilities with the wrong positions unless the prompt starts with BOS. Score "
                "with a start token that is BOS (--codeguard-start-token), or serve the model with vLLM")
        choice = model._completion({"model": model.endpoint.model, "prompt": model._prompt(ids, where),
                                    "max_tokens": 1, "echo": True, "logprobs": model.endpoint.top_logprobs,
                                    "temperature": 0, "seed": 0})[0]
        logprobs = choice.get("logprobs")
        tokens = logprobs.get("tokens") if isinstance(logprobs, dict) else None
        values = logprobs.get("token_logprobs") if isinstance(logprobs, dict) else None
        tops = logprobs.get("top_logprobs") if isinstance(logprobs, dict) else None
        offset = 1 if self.drops_bos else 0
        if not isinstance(tokens, list) or not isinstance(values, list) or len(values) < len(ids) - offset:
            raise EndpointError(
                f"{model.endpoint.base_url} returned no prompt log-probabilities for model {model.endpoint.model!r} "
                f"({where}, {len(ids)} tokens; asked for echo with logprobs={model.endpoint.top_logprobs}): the "
                "corpus probes on a served model need a server that echoes the prompt's log-probabilities "
                "(llama-cpp-python's server does with its default logits_all; vLLM does for echo with logprobs)")
        tops = tops if isinstance(tops, list) else [None] * len(values)
        width = model.output_width
        rows = np.empty((len(ids), width), dtype=np.float64)
        for position in range(1, len(ids) + 1):
            entry = position - offset  # index in the echoed list of the token at `position`
            if entry < len(values) and entry < len(tokens) and position < len(ids):
                named = model._token_id(str(tokens[entry]))
                if named is not None and named != ids[position]:
                    raise EndpointError(
                        f"{model.spec}: the server tokenized {where} differently (position {position}: it echoes "
                        f"{tokens[entry]!r}, the window holds {model.tokens[ids[position]]!r}); the prompt's text does "
                        "not survive the round trip. Use a server that takes token-id prompts (prompt=ids, vLLM)")
            known: dict[int, float] = {}
            actual = None
            if entry < len(values) and values[entry] is not None:
                known, best_unresolved = self._resolve(tops[entry] if entry < len(tops) else None)
                if position < len(ids):
                    actual = float(values[entry])
            elif position < len(ids):
                actual, known = self._forced(ids[:position], ids[position])
                best_unresolved = -math.inf
            else:
                best_unresolved = -math.inf
            if actual is not None:
                known[ids[position]] = actual
            if known and best_unresolved > max(known.values()):
                with self._lock:
                    self.unresolved_top1 += 1
            _fill(rows[position - 1], known, width)
        return rows.astype(np.float32)

    def _resolve(self, entry) -> tuple[dict[int, float], float]:
        """Token id -> log-probability of one entry's resolvable tokens, and the best unresolvable value."""
        resolved, best_unresolved = {}, -math.inf
        for name, value in entry_pairs(entry):
            token_id = self.model._token_id(name)
            if token_id is None:
                best_unresolved = max(best_unresolved, value)
            else:
                resolved[token_id] = value
        return resolved, best_unresolved

    def _forced(self, context: list[int], token: int) -> tuple[float, dict[int, float]]:
        """The exact log-probability of `token` after `context`, and that position's top K: one completion with the
        token forced by logit_bias (the reported log-probabilities are the unbiased model's)."""
        key = (tuple(context), token)
        if key not in self.filled:
            model = self.model
            with self._lock:
                self.filled_requests += 1
            choice = model._completion({"model": model.endpoint.model, "prompt": model._prompt(context, "context"),
                                        "max_tokens": 1, "logprobs": model.endpoint.top_logprobs, "temperature": 0,
                                        "seed": 0, "logit_bias": {str(token): FORCE_BIAS}})[0]
            logprobs = choice.get("logprobs") or {}
            tokens, values = logprobs.get("tokens") or [], logprobs.get("token_logprobs") or []
            if not tokens or values[0] is None or model._token_id(str(tokens[0])) not in (token, None):
                raise EndpointError(
                    f"{model.endpoint.base_url}: could not read the log-probability of token {token} after a "
                    f"{len(context)}-token context for model {model.endpoint.model!r} (the server echoes none for "
                    f"the first token after BOS, and a completion forced by logit_bias answered {tokens[:1]!r})")
            top, _ = self._resolve((logprobs.get("top_logprobs") or [None])[0])
            self.filled[key] = (float(values[0]), top)
        value, top = self.filled[key]
        return value, dict(top)


def _fill(row: np.ndarray, known: dict[int, float], width: int) -> None:
    """Known log-probabilities in place, the remaining mass spread uniformly over the other tokens."""
    rest = 1.0 - sum(math.exp(v) for v in known.values())
    spread_into = width - len(known)
    row[:] = math.log(max(rest, 1e-12) / spread_into) if spread_into else -np.inf
    for token_id, value in known.items():
        row[token_id] = value
