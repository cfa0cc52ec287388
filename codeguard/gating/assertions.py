"""Assertion helpers for users' own tests: they raise AssertionError with a metric table.

    from codeguard import assert_divergence, assert_metrics, run_cold_start, run_keyword_mass
    assert_divergence(run_cold_start(ref, opt), max_js=0.01, max_kl=0.05)
    assert_metrics(run_keyword_mass(ref, opt), "pkp_rel_shift.python <= 0.05", suite="python_keywords")
"""
from __future__ import annotations

from pathlib import Path

from codeguard.gating.baselines import Baseline, load_baseline
from codeguard.gating.conditions import conditions_verdict
from codeguard.gating.gate import GateVerdict, evaluate

_KEYWORD_LIMITS = {"max_kl": "kl_ref_opt", "max_kl_opt_ref": "kl_opt_ref", "max_js": "js_divergence",
                   "max_tv": "total_variation", "max_entropy_delta": "entropy_delta",
                   "max_top1_flip_cost": "top1_flip_cost", "min_topk_overlap_10": "topk_overlap_10",
                   "min_topk_overlap_50": "topk_overlap_50", "min_spearman": "spearman_top100"}


def assert_gate(verdict: GateVerdict) -> GateVerdict:
    __tracebackhide__ = True
    if not verdict.passed:
        raise AssertionError(verdict.message())
    return verdict


def assert_divergence(result, **limits: float) -> GateVerdict:
    """Absolute limits on a cold-start result, e.g. `max_js=0.01, min_topk_overlap_10=0.9`."""
    __tracebackhide__ = True
    unknown = sorted(set(limits) - set(_KEYWORD_LIMITS))
    if unknown:
        raise TypeError(f"assert_divergence: unknown limit(s) {unknown}; accepted: {sorted(_KEYWORD_LIMITS)}")
    named = {_KEYWORD_LIMITS[key]: value for key, value in limits.items() if value is not None}
    return assert_gate(evaluate(result, result.suite, limits=named))


def assert_within_baseline(result, baseline: Baseline | str | Path, suite: str | None = None,
                           **limits: float) -> GateVerdict:
    """Gates a result against a stored baseline (checking it belongs to the same reference and probe config), the
    same path the plugin takes; `suite` defaults to the result's own."""
    __tracebackhide__ = True
    if not isinstance(baseline, Baseline):
        baseline = load_baseline(Path(baseline))
    named = {_KEYWORD_LIMITS.get(key, key): value for key, value in limits.items() if value is not None}
    return assert_gate(evaluate(result, suite or result.suite, baseline, named))


def assert_metrics(result, *conditions: str, suite: str | None = None) -> GateVerdict:
    """Absolute limits on any probe's metrics in one line each, e.g.
    `assert_metrics(result, "pkp_rel_shift.python <= 0.05", "kl_ref_opt < 0.01", suite="python_keywords")`.

    `result` is a probe result (or a mapping of metric names to numbers); each condition is `METRIC OP NUMBER`
    with OP one of <=, <, >=, >. Raises AssertionError with the metric table when a condition fails (NaN fails),
    ConfigError when a condition does not parse or names a metric the result lacks (naming the nearest ones). The
    verdict is labelled `suite` (default: the result's own), which is how reports list it.
    """
    __tracebackhide__ = True
    return assert_gate(conditions_verdict(result, conditions, suite))
