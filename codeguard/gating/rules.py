"""Which metrics gate, in which direction, with which default tolerance (a new baseline starts from these).

Tolerances are deliberately two-part: `limit = baseline·(1+rtol) + atol` for lower-is-better metrics, and
`limit = baseline·(1-rtol) - atol` for higher-is-better ones, so a baseline of exactly 0 (identical models) still
leaves room for harmless numeric noise. Values were calibrated on the zoo (see README, "Calibration").
"""
from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass

from codeguard.errors import ConfigError

LOWER = "lower_is_better"
HIGHER = "higher_is_better"


@dataclass(frozen=True)
class MetricRule:
    direction: str
    rtol: float
    atol: float
    doc: str
    baselined: bool = True   # False: checked against a built-in limit only (e.g. a p-value), never stored


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

# Shifts of the cold-start keyword aggregates (probes/keyword_mass.py). "pkp_rel_shift.<language>" metrics take
# the rule of "pkp_rel_shift.*"; a language moves by its own relative share, so one language breaking shows.
KEYWORD_MASS_RULES: dict[str, MetricRule] = {
    "pkp_rel_shift.*": MetricRule(LOWER, 1.5, 0.02, "relative shift of a language's keyword mass (PKP)"),
    "pkp_rel_shift": MetricRule(LOWER, 1.5, 0.01, "relative shift of the keyword mass of all languages"),
    "stp_abs_shift": MetricRule(LOWER, 1.5, 0.005, "absolute shift of punctuation/structural token mass (STP)"),
    "nlp_abs_shift": MetricRule(LOWER, 1.5, 5e-4, "absolute shift of English control-word mass (NLP)"),
    "language_mix_js": MetricRule(LOWER, 1.5, 1e-4, "JS divergence (bits) of the per-language keyword-mass mix"),
}

# Teacher-forced corpus divergence (probes/corpus_kld.py), overall and per language.
CORPUS_KLD_RULES: dict[str, MetricRule] = {
    "kld_mean": MetricRule(LOWER, 1.5, 5e-4, "mean KL(ref‖opt) over every corpus position, nats"),
    "kld_p99": MetricRule(LOWER, 1.5, 5e-3, "99th percentile of the per-position KLD"),
    "same_top_p": MetricRule(HIGHER, 0.0, 0.02, "share of positions where both models' top-1 agree"),
    "ppl_ratio": MetricRule(LOWER, 0.0, 0.01, "perplexity of opt over perplexity of ref"),
    "kld_mean.*": MetricRule(LOWER, 1.5, 1e-3, "mean KLD on one language's files"),
    "same_top_p.*": MetricRule(HIGHER, 0.0, 0.03, "same-top share on one language's files"),
}

# Keywords where they occur in real code (probes/keyword_shift.py).
KEYWORD_SHIFT_RULES: dict[str, MetricRule] = {
    "mean_abs_dlogp": MetricRule(LOWER, 0.5, 0.01, "mean |Δ log p| of keyword tokens in the corpus, nats"),
    "mean_abs_dlogp.*": MetricRule(LOWER, 0.5, 0.02, "mean |Δ log p| of one language's keywords, nats"),
    "top1_lost_share": MetricRule(LOWER, 1.5, 0.02,
                                  "share of keyword positions where ref ranked the keyword first and opt does not"),
}

# pass@k on executed samples (probes/pass_at_k.py); "@*" rules cover every k. The tolerance is wide enough for
# a re-derived opt (another toolchain version samples differently), narrow enough to catch a real drop; the paired
# checks against ref (built-in limits, not baselined) catch significant drops whatever the baseline says.
PASS_AT_K_RULES: dict[str, MetricRule] = {
    "pass@*": MetricRule(HIGHER, 0.0, 0.1, "opt's unbiased pass@k on the problems"),
    "delta_pass@*": MetricRule(HIGHER, 0.0, 0.1, "opt's pass@k minus ref's on the same problems"),
    "ci_high_delta_pass@*": MetricRule(HIGHER, 0.0, 0.0, "upper bound of the bootstrap interval of delta pass@k "
                                       "(below -margin: opt's drop significantly larger than the margin)",
                                       baselined=False),
    "mcnemar_p@*": MetricRule(HIGHER, 0.0, 0.0, "exact McNemar p-value that opt solves fewer problems than ref "
                              "(greedy-style majority pass per problem)", baselined=False),
}

# The worst prefixes hypothesis finds (probes/worst_case.py), default search (60 examples) on the zoo over seeds 0-19
# (bench/RESULTS.md): the maximum, @onnx-int8 0.005-0.029 and @int4-rtn 0.023-0.040, overlaps, so it keeps a loose
# limit (a prefix where a candidate breaks); the tail mean, 0.0035-0.0062 against 0.015-0.022, is what separates.
WORST_CASE_RULES: dict[str, MetricRule] = {
    "max_prefix_kl": MetricRule(LOWER, 0.5, 0.03, "largest next-token KL(ref‖opt) after any searched code prefix"),
    "tail_prefix_kl": MetricRule(LOWER, 0.5, 0.003, "mean next-token KL(ref‖opt) over the worst 5 % of the searched "
                                 "prefixes (expected shortfall: steadier across seeds than the maximum)"),
    "max_keyword_dlogp": MetricRule(LOWER, 0.5, 0.1, "largest |Δ log p| of a keyword's first token after any "
                                    "searched prefix (keywords ref gives >= 1e-3)"),
    "tail_keyword_dlogp": MetricRule(LOWER, 0.5, 0.05, "mean |Δ log p| of keywords' first tokens over the worst 5 % "
                                     "of the searched prefixes"),
}

BUILT_IN_SUITES: dict[str, dict[str, MetricRule]] = {
    "cold_start": COLD_START_RULES, "keyword_mass": KEYWORD_MASS_RULES, "corpus_kld": CORPUS_KLD_RULES,
    "keyword_shift": KEYWORD_SHIFT_RULES, "pass_at_k": PASS_AT_K_RULES, "worst_case": WORST_CASE_RULES}
SUITE_RULES: dict[str, dict[str, MetricRule]] = dict(BUILT_IN_SUITES)  # plus the suites users declare
_SUITE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def register_suite(name: str, rules: dict[str, MetricRule]) -> None:
    """Declares a suite: the metrics it gates, each with its direction and default tolerance. A declared suite gates
    exactly like a built-in one: `codeguard.check(result, suite=name)` stores its baseline as `<name>.json` and checks
    every baselined metric the result has. Call it where pytest imports it first (your `conftest.py`).

        register_suite("cold_start_strict", {"kl_ref_opt": MetricRule(LOWER, 0.5, 1e-4, "tighter cold start")})

    Metric names may end in `.*` (per language) or `@*` (per k). Declaring a name twice with other rules, or a
    built-in name, is an error: a suite means one thing in every baseline file that names it.
    """
    if not isinstance(name, str) or not _SUITE_NAME.match(name):
        raise ConfigError(f"suite name {name!r}: use lower-case letters, digits and '_' (it names the baseline file)")
    if not isinstance(rules, dict) or not rules:
        raise ConfigError(f"suite {name!r}: declare at least one metric rule (a suite that gates nothing never passes)")
    for metric, rule in rules.items():
        if not isinstance(rule, MetricRule):
            raise ConfigError(f"suite {name!r}, metric {metric!r}: expected a MetricRule(direction, rtol, atol, doc), "
                              f"got {type(rule).__name__}")
        if rule.direction not in (LOWER, HIGHER):
            raise ConfigError(f"suite {name!r}, metric {metric!r}: direction {rule.direction!r}; expected {LOWER!r} or "
                              f"{HIGHER!r}")
        if not (math.isfinite(rule.rtol) and math.isfinite(rule.atol)) or rule.rtol < 0 or rule.atol < 0:
            raise ConfigError(f"suite {name!r}, metric {metric!r}: rtol and atol must be finite and >= 0")
    if name in SUITE_RULES and SUITE_RULES[name] != rules:
        kind = "a built-in suite" if name in BUILT_IN_SUITES else "already declared with other rules"
        raise ConfigError(f"suite {name!r} is {kind}; pick another name")
    SUITE_RULES[name] = dict(rules)


def declared_suites() -> list[str]:
    return sorted(SUITE_RULES)


def rules_for(suite: str) -> dict[str, MetricRule]:
    """The rules of a declared suite; an undeclared name is an error (its baseline would gate nothing)."""
    if suite not in SUITE_RULES:
        near = difflib.get_close_matches(str(suite), SUITE_RULES, n=3)
        raise ConfigError(
            f"unknown suite {suite!r}{' (did you mean ' + ', '.join(near) + '?)' if near else ''}; declared suites: "
            f"{', '.join(declared_suites())}. Declare your own with "
            "codeguard.gating.rules.register_suite(name, {metric: MetricRule(direction, rtol, atol, doc)})")
    return SUITE_RULES[suite]


def rule_for(suite: str, metric: str) -> MetricRule | None:
    """The rule of a metric; `name.qualifier` metrics (per language) fall back to the `name.*` rule, and
    `name@k` metrics (per k) to the `name@*` rule."""
    rules = rules_for(suite)
    if metric in rules:
        return rules[metric]
    for separator in (".", "@"):
        if separator in metric:
            return rules.get(metric.split(separator, 1)[0] + separator + "*")
    return None


def direction_of(metric: str) -> str | None:
    for suite in SUITE_RULES:
        rule = rule_for(suite, metric)
        if rule is not None:
            return rule.direction
    return None


def metric_problem(metric: str, languages) -> str | None:
    """None when some declared suite gates `metric`; else what is wrong with the name, with the nearest known names.
    A per-language name (`pkp_rel_shift.python`) needs a registry language, a per-k name (`pass@5`) a whole k >= 1:
    a typo there would otherwise gate a metric no result has."""
    languages = sorted(languages)
    base, separator, qualifier = _split_qualified(metric)
    if direction_of(metric) is not None:
        if separator == "." and metric not in _plain_names() and qualifier not in languages:
            return _unknown(metric, languages, f"{qualifier!r} is not a registry language")
        if separator == "@" and metric not in _plain_names() and not (qualifier.isdigit() and int(qualifier) >= 1):
            return _unknown(metric, languages, f"{qualifier!r} is not a whole k >= 1")
        return None
    return _unknown(metric, languages, "no declared suite gates it")


def known_metric_names(languages) -> list[str]:
    """Every gateable metric name, per-language and per-k names spelled out (for suggestions)."""
    names = set()
    for rules in SUITE_RULES.values():
        for name in rules:
            if name.endswith(".*"):
                names.update(f"{name[:-2]}.{lang}" for lang in languages)
            elif name.endswith("@*"):
                names.update(f"{name[:-2]}@{k}" for k in (1, 5, 10))
            else:
                names.add(name)
    return sorted(names)


def _plain_names() -> set[str]:
    return {name for rules in SUITE_RULES.values() for name in rules if not name.endswith(("*",))}


def _split_qualified(metric: str) -> tuple[str, str, str]:
    for separator in (".", "@"):
        if separator in metric:
            base, qualifier = metric.split(separator, 1)
            return base, separator, qualifier
    return metric, "", ""


def _unknown(metric: str, languages, why: str) -> str:
    near = difflib.get_close_matches(metric, known_metric_names(languages), n=3, cutoff=0.6)
    return f"unknown metric {metric!r} ({why}){'; did you mean ' + ', '.join(near) + '?' if near else ''}"
