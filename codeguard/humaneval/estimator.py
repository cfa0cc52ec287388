"""pass@k and the paired statistics that decide whether opt writes working code less often than ref.

The unbiased estimator is Chen et al. (2021): pass@k = 1 − C(n−c, k) / C(n, k), computed as a product so large n
does not overflow. Paired statistics compare the two models on the same problems.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest, bootstrap


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples (drawn from n with c correct) passes."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n (got n={n}, c={c}, k={k})")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def mean_pass_at_k(correct: list[int], n: int, k: int) -> float:
    return float(np.mean([pass_at_k(n, c, k) for c in correct]))


@dataclass
class PairedComparison:
    k: int
    ref_pass_at_k: float
    opt_pass_at_k: float
    delta: float                      # opt − ref
    ci_low: float                     # bootstrap confidence interval of delta, over problems
    ci_high: float
    confidence: float
    mcnemar_p: float | None           # exact McNemar (one-sided: opt worse), for k = 1 on per-problem greedy pass
    ref_only: list[str]               # problems ref solves (k=1 estimate > opt's) and opt does not
    opt_only: list[str]
    min_detectable_drop: float        # smallest pass@1 drop the exact test can flag at this size and level


def min_detectable_drop(n_problems: int, alpha: float) -> float:
    """The smallest pass@1 drop McNemar's exact test can call significant: all b flips one way, 0.5^b <= alpha."""
    flips = int(np.ceil(np.log(alpha) / np.log(0.5)))
    return min(1.0, flips / n_problems) if n_problems else 1.0


def compare_paired(task_ids: list[str], ref_correct: list[int], opt_correct: list[int], n: int, k: int,
                   confidence: float = 0.95, alpha: float = 0.05, seed: int = 0) -> PairedComparison:
    """Δpass@k with a bootstrap CI over problems, exact McNemar on per-problem pass (k = 1), and the flips."""
    ref = np.array([pass_at_k(n, c, k) for c in ref_correct])
    opt = np.array([pass_at_k(n, c, k) for c in opt_correct])
    diffs = opt - ref
    if np.ptp(diffs) == 0:
        low = high = float(diffs.mean())
    else:
        ci = bootstrap((diffs,), np.mean, confidence_level=confidence, n_resamples=2000, method="percentile",
                       rng=np.random.default_rng(seed)).confidence_interval
        low, high = float(ci.low), float(ci.high)
    # A problem "passes" for a model when most of its samples pass (greedy decoding: its single sample).
    ref_pass = np.array(ref_correct) * 2 > n
    opt_pass = np.array(opt_correct) * 2 > n
    ref_only = [t for t, r, o in zip(task_ids, ref_pass, opt_pass) if r and not o]
    opt_only = [t for t, r, o in zip(task_ids, ref_pass, opt_pass) if o and not r]
    discordant = len(ref_only) + len(opt_only)
    mcnemar = None
    if k == 1:
        mcnemar = float(binomtest(len(ref_only), discordant, 0.5, alternative="greater").pvalue) if discordant else 1.0
    return PairedComparison(k=k, ref_pass_at_k=float(ref.mean()), opt_pass_at_k=float(opt.mean()),
                            delta=float(diffs.mean()), ci_low=low, ci_high=high, confidence=confidence,
                            mcnemar_p=mcnemar, ref_only=ref_only, opt_only=opt_only,
                            min_detectable_drop=min_detectable_drop(len(task_ids), alpha))
