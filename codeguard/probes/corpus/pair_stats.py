"""Per-position statistics of two models' logits over the same positions, in float64, without full log-softmaxes.

KL(ref‖opt) at a position is Σ p_r (lr − lo) with lr = zr − lse_r and lo = zo − lse_o. Shifting both rows by their
maximum (mr, mo) and writing er = exp(zr − mr), sr = Σ er (likewise for opt):

    KL = Σ er · ((zr − mr) − (zo − mo)) / sr − log sr + log so

which needs one float64 exp per logit and model and no normalised (positions × vocabulary) matrix. Rows are
processed in chunks of about 262,144 logits (32 rows of the zoo's 8,192-token vocabulary, 5 rows of a 49,152-token
one): smaller chunks keep temporaries in cache (alone, 255 × 8,192 logits a window: 5.4-6.0 ms with 16 or 32 rows,
12-14 ms with 64), while each extra op's dispatch costs too; inside the probe, with both models scoring ahead in
their own threads, 32 rows of 8,192 came out best (1.05x the bare forward passes, 16 rows 1.10x, 64 rows 1.07x;
bench/RESULTS.md). A fixed 32 rows of a 49,152-token vocabulary made every float64 temporary 12 MB, fresh pages
from the kernel each chunk, and cost 3-4x more per logit (bench/bench_llama_parity.py). Each row's numbers do not
depend on the chunk it is in. Identical logits give exactly 0.

Top-1 tokens come from the float32 logits (log-softmax is monotone, so the order is the same), and a token's
log-probability is `z[token] − lse` in float64: the same numbers `log_softmax(z, dtype=float64)` gives, to ~1e-15.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

LOGITS_PER_CHUNK = 32 * 8192


def chunk_rows(vocab: int) -> int:
    """Rows per chunk for a vocabulary: LOGITS_PER_CHUNK logits, at least one row."""
    return max(1, LOGITS_PER_CHUNK // max(1, vocab))


@dataclass
class PairStats:
    """Per position: both models' log-normalisers and top-1 tokens, and KL(ref‖opt) in nats."""

    lse_ref: torch.Tensor   # (n,) float64
    lse_opt: torch.Tensor
    top_ref: torch.Tensor   # (n,) int64
    top_opt: torch.Tensor
    kld: torch.Tensor       # (n,) float64, >= 0


def pair_stats(ref_logits: torch.Tensor, opt_logits: torch.Tensor, rows: int | None = None) -> PairStats:
    """Statistics of two (n, vocab) logit matrices that predict the same n positions."""
    if ref_logits.shape != opt_logits.shape:
        raise ValueError(f"logit shapes differ: {tuple(ref_logits.shape)} vs {tuple(opt_logits.shape)}")
    rows = rows or chunk_rows(ref_logits.shape[-1])
    parts = [_chunk(ref_logits[i:i + rows], opt_logits[i:i + rows]) for i in range(0, ref_logits.shape[0], rows)]
    if not parts:
        empty_f, empty_i = torch.empty(0, dtype=torch.float64), torch.empty(0, dtype=torch.int64)
        return PairStats(empty_f, empty_f, empty_i, empty_i, empty_f)
    return PairStats(*(torch.cat(column) for column in zip(*parts)))


def _chunk(zr: torch.Tensor, zo: torch.Tensor):
    with torch.inference_mode():
        max_r, top_r = zr.max(dim=1)
        max_o, top_o = zo.max(dim=1)
        max_r, max_o = max_r.double(), max_o.double()
        shifted_r = zr.double().sub_(max_r[:, None])
        shifted_o = zo.double().sub_(max_o[:, None])
        gap = shifted_r - shifted_o              # lr − lo up to a per-row constant
        sum_r = shifted_r.exp_().sum(dim=1)      # shifted_r now holds er
        sum_o = shifted_o.exp_().sum(dim=1)
        log_r, log_o = sum_r.log(), sum_o.log()
        kld = (torch.linalg.vecdot(shifted_r, gap) / sum_r).sub_(log_r).add_(log_o).clamp_(min=0.0)
        return max_r + log_r, max_o + log_o, top_r, top_o, kld


def token_logprobs(logits: torch.Tensor, lse: torch.Tensor, rows, tokens) -> np.ndarray:
    """float64 log-probabilities of `tokens` at `rows` (index arrays of equal length)."""
    rows, tokens = torch.as_tensor(rows, dtype=torch.long), torch.as_tensor(tokens, dtype=torch.long)
    return (logits[rows, tokens].double() - lse[rows]).numpy()
