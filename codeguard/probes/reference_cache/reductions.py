"""What a top-K reference cache keeps per position, and KL(ref‖opt) from it.

Per position the cache keeps ref's smallest set of most likely tokens whose mass reaches `mass` (at most `k`
tokens), their log-probabilities, the log of the mass outside them (the tail, t_r), and `samples` tokens drawn from
ref's tail in proportion to their probability, with their log-probabilities. Against opt's full logits

    KL = Σ_top p_r (log p_r − log p_o) + t_r (log t_r − log t_o) + t_r · KL(p̃_r‖p̃_o),

where t is a model's mass outside ref's top set and p̃ its distribution over that tail, renormalised. The first two
terms are exact: KL between the distributions coarsened to (top tokens, one tail bucket), which alone is a lower bound
that on the zoo's flat distributions missed 27 % of kld_mean. The third is estimated from the drawn tail tokens with
the "k3" estimator (Schulman, "Approximating KL divergence", 2020): with x = log(p̃_o/p̃_r) at a token drawn from p̃_r,

    E[eˣ − 1 − x] = Σ p̃_r (p̃_o/p̃_r − 1) − Σ p̃_r log(p̃_o/p̃_r) = KL(p̃_r‖p̃_o),

since Σ p̃_o = 1 over the tail; every term is ≥ 0, so the estimate never falls below the lower bound, and it has no
bias: a position's KL is exact in expectation and a mean over positions is unbiased, its sampling noise part of the
spread its standard error is computed from. Quantiles of noisy per-position values are not unbiased (noise widens
the distribution), so they stay flagged as approximate. When the top set covers the vocabulary (t_r = 0) every term is
exact.
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
    tail_ids: np.ndarray   # (n, samples) int32, tokens drawn from ref's tail (the top-1, unused, when none is left)
    tail_logprobs: np.ndarray  # (n, samples) float32, ref's log-probabilities of those tokens

    def rows(self, start: int, stop: int) -> "TopK":
        """The top sets of positions [start, stop), offsets rebased to 0."""
        a, b = int(self.offsets[start]), int(self.offsets[stop])
        return TopK(self.offsets[start:stop + 1] - a, self.ids[a:b], self.logprobs[a:b], self.tail[start:stop],
                    self.tail_ids[start:stop], self.tail_logprobs[start:stop])


def top_sets(logprobs: torch.Tensor, mass: float, k: int, samples: int, generator: torch.Generator) -> TopK:
    """The top sets of each row of (n, vocab) float64 log-probabilities and `samples` tokens drawn (with replacement,
    from `generator`, on the log-probabilities' device) from each row's tail (see the module docstring); the sets
    come back on the host."""
    k = min(k, logprobs.shape[1])
    with torch.inference_mode():
        values, ids = torch.topk(logprobs, k, dim=1)  # sorted, most likely first
        # kept: the tokens before the cumulative mass reaches `mass`, and the one that reaches it
        keep = (values.exp().cumsum(dim=1) < mass).sum(dim=1).add_(1).clamp_(max=k)
        inside = torch.arange(k, device=logprobs.device)[None, :] < keep[:, None]
        outside = logprobs.scatter(1, ids, values.masked_fill(inside, -torch.inf))
        tail = torch.logsumexp(outside, dim=1)
        weights = outside.exp_()
        # the top set holds all the mass (or all but < 1e-300 of it): no tail (-inf); the top-1 is drawn, never read
        empty = (weights.sum(dim=1) > 0).logical_not_().nonzero().squeeze(1)
        tail[empty] = -torch.inf
        weights[empty, ids[empty, 0]] = 1.0
        drawn = torch.multinomial(weights, samples, replacement=True, generator=generator)
        drawn_logprobs = logprobs.gather(1, drawn)
    offsets = np.concatenate([[0], np.cumsum(keep.cpu().numpy())])
    host = [t.cpu().numpy() for t in (ids[inside], values[inside], tail, drawn, drawn_logprobs)]
    return TopK(offsets.astype(np.int64), host[0].astype(np.int32), host[1].astype(np.float32),
                host[2].astype(np.float64), host[3].astype(np.int32), host[4].astype(np.float32))


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
    """Per position (lse_opt, top_opt, KL(ref‖opt) estimated as the module docstring says) from ref's top sets and
    tail samples and opt's (n, vocab) logits."""
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
    zo = torch.as_tensor(zo).to(device)
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
        bucket = torch.where(needs, tail_r.exp() * (tail_r - tail_o), 0.0)
        return max_o + log_sum, top_o, (head + bucket + _tail_divergence(top, zo, max_o, log_sum, tail_r, tail_o,
                                                                         needs)).clamp_(min=0.0)


def _tail_divergence(top: TopK, zo, max_o, log_sum, tail_r, tail_o, needs) -> torch.Tensor:
    """t_r · KL(p̃_r‖p̃_o) per row, from the tail samples (k3: the mean of eˣ − 1 − x, x = log p̃_o − log p̃_r)."""
    device = zo.device
    drawn = torch.from_numpy(top.tail_ids).to(device, torch.int64)
    ref_drawn = torch.from_numpy(top.tail_logprobs).to(device, torch.float64)
    opt_drawn = (zo.gather(1, drawn).double() - max_o[:, None]) - log_sum[:, None]
    x = (opt_drawn - tail_o[:, None]) - (ref_drawn - tail_r[:, None])
    k3 = (torch.expm1(x) - x).mean(dim=1)
    return torch.where(needs, tail_r.exp() * k3, 0.0)
