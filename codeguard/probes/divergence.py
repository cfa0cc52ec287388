"""Divergences and agreement between two next-token distributions (float64, scipy does the math)."""
from __future__ import annotations

import math

import numpy as np
from scipy.spatial.distance import jensenshannon
from scipy.special import rel_entr
from scipy.stats import entropy, spearmanr

TOPK_SIZES = (10, 50)
SPEARMAN_TOP = 100


def kl_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """KL(p‖q) in nats; +inf when q puts zero mass where p does not."""
    return float(np.sum(rel_entr(p, q)))


def js_divergence_bits(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence in bits, in [0, 1].

    scipy's `jensenshannon` returns the distance (a square root) and gives NaN for identical inputs when
    rounding makes the divergence slightly negative, so the divergence is summed from `rel_entr` and clamped.
    """
    m = 0.5 * (p + q)
    js = 0.5 * (np.sum(rel_entr(p, m)) + np.sum(rel_entr(q, m))) / math.log(2)
    return float(min(max(js, 0.0), 1.0))


def js_distance(p: np.ndarray, q: np.ndarray) -> float:
    """The Jensen-Shannon distance (scipy's definition, base 2): sqrt of the divergence."""
    with np.errstate(invalid="ignore"):  # rounding can make the divergence -1e-17 for equal inputs
        return float(np.nan_to_num(jensenshannon(p, q, base=2.0)))


def total_variation(p: np.ndarray, q: np.ndarray) -> float:
    return float(0.5 * np.abs(p - q).sum())


def topk_overlap(p: np.ndarray, q: np.ndarray, k: int) -> float:
    """Fraction of p's top-k tokens that are also among q's top-k."""
    k = min(k, p.size)
    top_p = np.argpartition(-p, k - 1)[:k]
    top_q = np.argpartition(-q, k - 1)[:k]
    return len(np.intersect1d(top_p, top_q)) / k


def spearman_over_ref_top(p: np.ndarray, q: np.ndarray, n: int = SPEARMAN_TOP) -> float:
    """Rank correlation of the two models' probabilities over p's top-n tokens (1.0 when both are constant)."""
    top = np.argsort(-p, kind="stable")[: min(n, p.size)]
    a, b = p[top], q[top]
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return 1.0
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(spearmanr(a, b).statistic)


def distribution_metrics(ref_logprobs: np.ndarray, opt_logprobs: np.ndarray) -> dict[str, float]:
    """Every cold-start metric for one pair of next-token distributions given as log-probabilities."""
    p = np.exp(np.asarray(ref_logprobs, dtype=np.float64))
    q = np.exp(np.asarray(opt_logprobs, dtype=np.float64))
    p, q = p / p.sum(), q / q.sum()
    order_p = np.argsort(-p, kind="stable")
    ref_top1, ref_top2 = int(order_p[0]), int(order_p[1]) if p.size > 1 else int(order_p[0])
    opt_top1 = int(np.argmax(q))
    metrics = {
        "kl_ref_opt": kl_divergence(p, q),
        "kl_opt_ref": kl_divergence(q, p),
        "js_divergence": js_divergence_bits(p, q),
        "total_variation": total_variation(p, q),
        "entropy_ref": float(entropy(p)),
        "entropy_opt": float(entropy(q)),
        "top1_agree": float(ref_top1 == opt_top1),
        "ref_top1_margin": float(p[ref_top1] - p[ref_top2]),
        # What a flip costs in the reference's own terms: 0 when top-1 agrees, tiny for a near-tie.
        "top1_flip_cost": float(p[ref_top1] - p[opt_top1]),
        "spearman_top100": spearman_over_ref_top(p, q),
    }
    metrics["entropy_delta"] = abs(metrics["entropy_opt"] - metrics["entropy_ref"])
    for k in TOPK_SIZES:
        metrics[f"topk_overlap_{k}"] = topk_overlap(p, q, k)
    return metrics
