"""Which metrics gate, in which direction, with which default tolerance (a new baseline starts from these).

Tolerances are deliberately two-part: `limit = baseline·(1+rtol) + atol` for lower-is-better metrics, and
`limit = baseline·(1-rtol) - atol` for higher-is-better ones, so a baseline of exactly 0 (identical models) still
leaves room for harmless numeric noise. Values were calibrated on the zoo (see README, "Calibration").
"""
from __future__ import annotations

from dataclasses import dataclass

LOWER = "lower_is_better"
HIGHER = "higher_is_better"


@dataclass(frozen=True)
class MetricRule:
    direction: str
    rtol: float
    atol: float
    doc: str


COLD_START_RULES: dict[str, MetricRule] = {
    "kl_ref_opt": MetricRule(LOWER, 1.5, 5e-4, "KL(ref‖opt) of the first-token distribution, nats"),
    "kl_opt_ref": MetricRule(LOWER, 1.5, 5e-4, "KL(opt‖ref), nats"),
    "js_divergence": MetricRule(LOWER, 1.5, 2e-4, "Jensen-Shannon divergence, bits"),
    "total_variation": MetricRule(LOWER, 1.0, 0.01, "total variation distance"),
    "entropy_delta": MetricRule(LOWER, 1.0, 0.03, "|entropy_opt - entropy_ref|, nats"),
    "top1_flip_cost": MetricRule(LOWER, 0.0, 0.05,
                                 "ref probability lost when opt's top-1 differs from ref's (0 if they agree)"),
    "topk_overlap_10": MetricRule(HIGHER, 0.0, 0.1, "share of ref's top-10 tokens in opt's top-10"),
    "topk_overlap_50": MetricRule(HIGHER, 0.0, 0.06, "share of ref's top-50 tokens in opt's top-50"),
    "spearman_top100": MetricRule(HIGHER, 0.0, 0.02, "rank correlation over ref's top-100 tokens"),
}

SUITE_RULES: dict[str, dict[str, MetricRule]] = {"cold_start": COLD_START_RULES}


def rules_for(suite: str) -> dict[str, MetricRule]:
    return SUITE_RULES.get(suite, {})


def direction_of(metric: str) -> str | None:
    for rules in SUITE_RULES.values():
        if metric in rules:
            return rules[metric].direction
    return None
