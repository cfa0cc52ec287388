"""Token choice for a batch of rows, each row drawing from its own random stream.

A row's stream is a numpy Generator seeded from the row's own seed (for pass@k: the problem's seed and the
sample's index), and a row consumes exactly one uniform number per token. Which other rows share its batch, and
in what order, therefore never changes what it draws: results do not depend on batch size or composition (up to
the low bits a batched matmul may change in the logits themselves).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:  # row_generators is llama.cpp's too, which must not import torch
    import torch


def row_generators(seeds: Sequence) -> list[np.random.Generator]:
    """One Generator per row; a seed may be an int or a sequence of ints (numpy's SeedSequence entropy)."""
    return [np.random.default_rng(list(s) if isinstance(s, (tuple, list)) else s) for s in seeds]


# Nucleus sampling needs the tokens in order of probability; sorting a whole vocabulary per row and step is what
# costs most on a CPU (2 ms per row at 8 k tokens). Most nuclei are a handful of tokens: the first TOP_K candidates
# come from a partial sort (topk), and only rows whose nucleus reaches past them are sorted whole.
TOP_K = 64


def choose_tokens(logits: torch.Tensor, temperature: float, top_p: float,
                  generators: Sequence[np.random.Generator]) -> list[int]:
    """The next token of each row of (rows, vocab) logits: greedy at temperature 0, else sampled at `temperature`
    from the smallest set of most probable tokens whose mass reaches `top_p` (top-k off), by inverse CDF over that
    set in order of probability, with the row's own uniform draw. Every step is row-wise and in float64, so a row's
    choice does not depend on the other rows. MPS, which has no float64, hands its rows to the CPU."""
    import torch
    logits = (logits.cpu() if logits.device.type == "mps" else logits).to(torch.float64)
    if temperature <= 0:
        return [int(t) for t in logits.argmax(dim=-1).tolist()]
    scaled = logits / temperature
    probs = torch.exp(scaled - scaled.max(dim=-1, keepdim=True).values)
    probs = probs / probs.sum(dim=-1, keepdim=True)
    uniforms = torch.tensor([g.random() for g in generators], dtype=torch.float64, device=probs.device)
    chosen = torch.empty(len(probs), dtype=torch.long, device=probs.device)
    whole = torch.ones(len(probs), dtype=torch.bool, device=probs.device)
    if top_p < 1.0 and probs.shape[-1] > TOP_K:
        top, order = torch.topk(probs, TOP_K, dim=-1, sorted=True)
        # the nucleus lies within the top k when the mass before rank k already reaches top_p
        whole = top.sum(dim=-1) < top_p
        inside = ~whole
        if bool(inside.any()):
            chosen[inside] = _inverse_cdf(top[inside], order[inside], top_p, uniforms[inside])
    if bool(whole.any()):
        top, order = torch.sort(probs[whole], dim=-1, descending=True, stable=True)
        chosen[whole] = _inverse_cdf(top, order, top_p, uniforms[whole])
    return [int(t) for t in chosen.tolist()]


def _inverse_cdf(sorted_probs: torch.Tensor, order: torch.Tensor, top_p: float, uniforms: torch.Tensor):
    """Token ids drawn from rows of probabilities sorted in descending order (`order`: their token ids)."""
    import torch
    kept = torch.full((len(sorted_probs),), sorted_probs.shape[-1], dtype=torch.long, device=sorted_probs.device)
    if top_p < 1.0:
        # keep each token whose predecessors' mass is still below top_p (at least the first)
        keep = torch.cumsum(sorted_probs, dim=-1) - sorted_probs < top_p
        keep[:, 0] = True
        sorted_probs = torch.where(keep, sorted_probs, torch.zeros((), dtype=sorted_probs.dtype,
                                                                   device=sorted_probs.device))
        kept = keep.sum(dim=-1)
    cumulative = torch.cumsum(sorted_probs, dim=-1)
    targets = (uniforms * cumulative[:, -1]).unsqueeze(-1)
    index = torch.minimum(torch.searchsorted(cumulative, targets, right=True).squeeze(-1), kept - 1)
    return order.gather(-1, index.unsqueeze(-1)).squeeze(-1)
