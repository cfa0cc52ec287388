"""What a top-K reference cache keeps per position, and KL(ref‖opt) from it.

Per position the cache keeps ref's smallest set of most likely tokens whose mass reaches `mass` (at most `k`
tokens), their log-probabilities, and the log of the mass outside them (the tail). Against opt's full logits

    KL_K = Σ_top p_r (log p_r − log p_o) + t_r (log t_r − log t_o),    t = mass outside ref's top set,

which is KL between the two distributions coarsened to (top tokens, one tail bucket): never above the exact KL (data
processing inequality), equal to it when the top set covers the vocabulary (t_r = 0).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from codeguard.probes.corpus.pair_stats import chunk_rows, exp_rows, reduction_device


@dataclass
class TopK:
    """Ragged top sets of n positions: position i owns ids[offsets[i]:offsets[i+1]] (most likely first)."""

    offsets: np.ndarray    # (n+1,) int64
    ids: np.ndarray        # (total,) int32
    logprobs: np.ndarray   # (total,) float32, ref's log-probabilities of those ids
    tail: np.ndarray       # (n,) float64, log of ref's mass outside the top set (-inf when none is left)

    def rows(self, start: int, stop: int) -> "TopK":
        """The top sets of positions [start, stop), offsets rebased to 0."""
        a, b = int(self.offsets[start]), int(self.offsets[stop])
        return TopK(self.offsets[start:stop + 1] - a, self.ids[a:b], self.logprobs[a:b], self.tail[start:stop])


def top_sets(logprobs: torch.Tensor, mass: float, k: int) -> TopK:
    """The top sets of each row of (n, vocab) float64 log-probabilities (see the module docstring)."""
    k = min(k, logprobs.shape[1])
    with torch.inference_mode():
        values, ids = torch.topk(logprobs, k, dim=1)  # sorted, most likely first
        # kept: the tokens before the cumulative mass reaches `mass`, and the one that reaches it
        keep = (values.exp().cumsum(dim=1) < mass).sum(dim=1).add_(1).clamp_(max=k)
        inside = torch.arange(k)[None, :] < keep[:, None]
        tail = torch.logsumexp(logprobs.scatter(1, ids, values.masked_fill(inside, -torch.inf)), dim=1)
    offsets = np.concatenate([[0], np.cumsum(keep.numpy())])
    return TopK(offsets.astype(np.int64), ids[inside].numpy().astype(np.int32),
                values[inside].numpy().astype(np.float32), tail.numpy().astype(np.float64))


def _padded(top: TopK) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, widest) ids and log-probabilities; padding repeats the row's first id with log-probability -inf."""
    counts = np.diff(top.offsets)
    width = int(counts.max()) if counts.size else 0
    rows = np.repeat(np.arange(counts.size), counts)
    cols = np.arange(top.ids.size) - np.repeat(top.offsets[:-1], counts)
    ids = np.repeat(top.ids[top.offsets[:-1]].astype(np.int64)[:, None], width, axis=1)
    logprobs = np.full((counts.size, width), -np.inf)
    ids[rows, cols] = top.ids
    logprobs[rows, cols] = top.logprobs
    return torch.from_numpy(ids), torch.from_numpy(logprobs)


def top_k_kld(top: TopK, opt_logits: torch.Tensor, rows: int | None = None):
    """Per position (lse_opt, top_opt, KL_K(ref‖opt)) from ref's top sets and opt's (n, vocab) logits."""
    rows = rows or chunk_rows(opt_logits.shape[-1])  # pair_stats's chunks
    parts = []
    for start in range(0, opt_logits.shape[0], rows):
        stop = min(start + rows, opt_logits.shape[0])
        parts.append(_chunk(top.rows(start, stop), opt_logits[start:stop]))
    if not parts:
        return (torch.empty(0, dtype=torch.float64), torch.empty(0, dtype=torch.int64),
                torch.empty(0, dtype=torch.float64))
    return tuple(torch.cat(column).cpu() for column in zip(*parts))


def _chunk(top: TopK, zo: torch.Tensor):
    """One exp pass over opt's logits, as pair_stats makes (its log-normaliser is computed the same way), on the
    device opt scored on (the CPU for MPS, which has no float64); results on that device."""
    device = reduction_device(zo)
    zo = zo.to(device)
    ids, lr = (t.to(device) for t in _padded(top))
    max_o, top_o, e, sum_o, log_sum = exp_rows(zo)
    with torch.inference_mode():
        lo = (zo.gather(1, ids).double() - max_o[:, None]) - log_sum[:, None]
        inside = torch.isfinite(lr)  # padding repeats a kept id: counted once
        pr = lr.exp()  # 0 on padding
        head = torch.where(inside, pr * (lr - lo), 0.0).sum(dim=1)
        # opt's mass outside ref's top set: the total minus the top set's, unless that cancels (then summed afresh)
        rest = sum_o - torch.where(inside, e.gather(1, ids), 0.0).sum(dim=1)
        tail_r = torch.from_numpy(top.tail).to(device)
        needs = torch.isfinite(tail_r)
        fresh = needs & (rest <= 1e-6 * sum_o)
        tail_o = rest.clamp(min=0.0).log() - log_sum
        if bool(fresh.any()):
            masked = zo[fresh].double().scatter_(1, ids[fresh], -torch.inf)
            tail_o[fresh] = torch.logsumexp(masked, dim=1) - (max_o[fresh] + log_sum[fresh])
        tail = torch.where(needs, tail_r.exp() * (tail_r - tail_o), 0.0)
        return max_o + log_sum, top_o, (head + tail).clamp_(min=0.0)
