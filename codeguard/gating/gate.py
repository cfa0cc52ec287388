"""Gates: compare a probe's metrics with a baseline (relative) or with configured limits (absolute).

A verdict carries every check, so a failure message and a report can show metric, obtained, baseline, limit and
direction. NaN or inf obtained values fail (a bare `nan > limit` would be False and pass). Where the probe gives a
metric's standard error, each check also says whether it landed within noise of its limit and the verdict warns
about tolerances below the noise (gating/noise.py).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from codeguard.errors import ApproximateSourceError, BaselineError, ConfigError
from codeguard.gating.baselines import Baseline
from codeguard.gating.noise import noise_warning, within_noise, within_noise_note
from codeguard.gating.rules import HIGHER, LOWER, direction_of, metric_problem, rule_for
from codeguard.number_format import fmt
from codeguard.probes.reference_cache import BACKEND as REFERENCE_CACHE


@dataclass
class MetricCheck:
    metric: str
    obtained: float
    baseline: float | None
    limit: float
    direction: str
    source: str  # "baseline" or "limit"
    passed: bool
    note: str = ""
    tolerance: dict | None = None  # {rtol, atol} of a baseline check (what reviewers tune); None for a limit
    stderr: float | None = None    # the metric's standard error in this run (None: the probe gives none)
    within_noise: bool = False     # obtained lies within 2 SEs of the limit: a pass or fail noise could flip


@dataclass
class GateVerdict:
    suite: str
    checks: list[MetricCheck] = field(default_factory=list)
    baseline_path: str | None = None
    ref_spec: str = ""
    opt_spec: str = ""
    notes: list[str] = field(default_factory=list)  # the probe's context for a reader (e.g. paired statistics)

    next_steps: list[str] = field(default_factory=list)  # what a reader of a failure can do about it
    warnings: list[str] = field(default_factory=list)  # about the gate itself (a tolerance below the noise)

    @property
    def passed(self) -> bool:
        """Every check passed, and there was at least one: a gate that checked nothing never passes."""
        return bool(self.checks) and all(check.passed for check in self.checks)

    @property
    def failures(self) -> list[MetricCheck]:
        return [check for check in self.checks if not check.passed]

    def to_dict(self) -> dict:
        return {"suite": self.suite, "passed": self.passed, "baseline_path": self.baseline_path,
                "ref": self.ref_spec, "opt": self.opt_spec, "checks": [asdict(c) for c in self.checks],
                "notes": list(self.notes), "warnings": list(self.warnings)}

    def rows(self, only_failures: bool = False) -> list[tuple[str, ...]]:
        """The checks as table rows, header first: what the failure message and the terminal summary show. A "± SE"
        column follows "obtained" when some metric has a standard error."""
        with_se = any(c.stderr is not None for c in self.checks)
        rows = [("metric", "obtained", *(("± SE",) if with_se else ()), "baseline", "tolerance", "limit",
                 "direction", "verdict")]
        for c in (self.failures if only_failures else self.checks):
            bound = ("<= " if c.direction == LOWER else ">= ") + fmt(c.limit)
            tolerance = (f"rtol {c.tolerance['rtol']:g}, atol {c.tolerance['atol']:g}" if c.tolerance
                         else "limit" if c.source == "limit" else "?")
            verdict = ("ok" if c.passed else "FAIL") + (f" ({c.note})" if c.note else "")
            se = (("-" if c.stderr is None else fmt(c.stderr)),) if with_se else ()
            rows.append((c.metric, fmt(c.obtained), *se, fmt(c.baseline), tolerance, f"{bound} [{c.source}]",
                         c.direction.replace("_is_better", ""), verdict))
        return rows

    def table(self, only_failures: bool = False) -> str:
        rows = self.rows(only_failures)
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)

    def message(self) -> str:
        where = f"\nbaseline: {self.baseline_path}" if self.baseline_path else ""
        notes = "".join(f"\n{note}" for note in self.notes + self.warnings)
        steps = "".join(f"\n  - {step}" for step in self.next_steps)
        steps = f"\nwhat next:{steps}" if steps else ""
        if not self.checks:
            return (f"codeguard gate '{self.suite}' checked nothing for {self.opt_spec} against {self.ref_spec}: no "
                    "metric of the result is held by a baseline or a limit, and a gate that checks nothing never "
                    f"passes.{where}{notes}{steps}")
        head = (f"codeguard gate '{self.suite}' failed for {self.opt_spec} against {self.ref_spec}: "
                + ", ".join(f"{c.metric}={fmt(c.obtained)}" for c in self.failures))
        return f"{head}{where}\n{self.table()}{notes}{steps}"


def _check(metric, obtained, baseline, limit, direction, source, tolerance=None) -> MetricCheck:
    if obtained is None or not isinstance(obtained, (int, float)) or not math.isfinite(obtained):
        return MetricCheck(metric, float("nan") if obtained is None else obtained, baseline, limit, direction,
                           source, False, "not a finite number", tolerance)
    passed = obtained <= limit if direction == LOWER else obtained >= limit
    return MetricCheck(metric, float(obtained), baseline, limit, direction, source, passed, tolerance=tolerance)


def check_reference(baseline: Baseline, ref_fingerprint: str, ref_spec: str) -> None:
    """The baseline must have been recorded for this very reference (same weights). Advice never suggests an
    update that would overwrite the baseline of another model."""
    expected, recorded = baseline.reference.get("fingerprint"), baseline.reference.get("spec", "?")
    if expected == ref_fingerprint:
        return
    if recorded != ref_spec:
        raise BaselineError(
            f"baseline {baseline.path} belongs to another reference model: it was recorded for {recorded} "
            f"({expected}), this run's reference is {ref_spec} ({ref_fingerprint}). Both map to one baseline folder: "
            "keep them apart with --codeguard-baseline-dir DIR or --codeguard-slot NAME. Do not accept with "
            f"--codeguard-update here: it would overwrite {recorded}'s baseline")
    raise BaselineError(
        f"baseline {baseline.path} was recorded for other weights of {recorded}: fingerprint {expected}, this run's "
        f"{ref_spec} has {ref_fingerprint}. If the reference was replaced on purpose, accept a candidate for the new "
        "weights with --codeguard-update (this replaces the old weights' baseline); otherwise restore the reference "
        "the baseline belongs to")


def check_complete(baseline: Baseline, suite: str, metrics: dict[str, float]) -> None:
    """A baseline must hold every metric its suite gates for this result (or say it is not gated): a reviewer who
    deletes entries must not switch the gate off unnoticed."""
    gated = {name for name in metrics if (rule := rule_for(suite, name)) is not None and rule.baselined}
    missing = sorted(gated - set(baseline.metrics) - set(baseline.not_gated))
    if not missing:
        return
    shown = ", ".join(missing[:12]) + (f" and {len(missing) - 12} more" if len(missing) > 12 else "")
    raise BaselineError(
        f"baseline {baseline.path} lacks {len(missing)} metric(s) that suite '{suite}' gates: {shown}. A partial "
        "baseline would gate less than it claims: accept the candidate again with --codeguard-update to record "
        "them, or list each under \"not_gated\" in that file with the reason")


def check_exact_sources(result, suite: str, checked=None) -> None:
    """Refuses to gate metrics computed from the approximate part of a model's distributions (a served model's
    top-k log-probabilities with the rest of the mass spread, a top-K reference cache's quantiles); metrics such a
    model gives exactly (or without bias) pass through. `checked`: the metrics this gate checks (a baseline's, minus
    what its reviewers marked not_gated, and the limits); None refuses any approximate metric of the result, which is
    what accepting a baseline needs (its values would be stored)."""
    approximate_metrics = [name for name in result.approximate_metrics() if checked is None or name in checked]
    if approximate_metrics:
        source = result.approximate_models()[0]
        role = "OPT" if source is result.opt else "REF"
        shown = ", ".join(approximate_metrics[:12]) + (
            f" and {len(approximate_metrics) - 12} more" if len(approximate_metrics) > 12 else "")
        exact = sorted(set(result.gate_metrics()) - set(approximate_metrics))
        exact_note = (f"; the metrics it gives exactly or without bias ({', '.join(exact[:6])}"
                      f"{' …' if len(exact) > 6 else ''}) would pass through" if exact else "")
        if REFERENCE_CACHE in source.backend:
            why, advice = ("a top-K reference cache: ref's top tokens, the mass of the rest and draws from it, "
                           "from which kld_mean is an unbiased estimate but the other KL statistics are not"), (
                "Gate them against a cache built with `codeguard reference-cache REF --mode exact`, or against "
                "the live reference (--model-pair REF,OPT)")
        else:
            why, advice = "the server's top-k log-probabilities, the remaining mass spread uniformly", (
                "Gate pass@k through the endpoint, and perplexity, keyword shift and top-1 agreement from its "
                "echoed prompt log-probabilities; gate distributions on a local copy of the served weights (e.g. "
                "the .gguf file)")
        raise ApproximateSourceError(
            f"codeguard gate '{suite}' refuses {role} {source.spec}: its metrics ({shown}) need exact "
            f"next-token distributions, but {source.spec} ({source.backend}) is approximate ({why}){exact_note}. "
            + advice)


def check_probe_config(baseline: Baseline, probe_config: dict, nuisance=frozenset(), defaults=None) -> None:
    """The run must be measured like the baseline; `nuisance` keys (a sampling probe's seed) are recorded, not
    compared. `defaults` are the values of keys a baseline accepted before they existed was measured with."""
    recorded = {**(defaults or {}), **baseline.probe_config}
    for key, value in recorded.items():
        if key in probe_config and key not in nuisance and probe_config[key] != value:
            raise BaselineError(
                f"baseline {baseline.path} was measured with {key}={value!r}, this run uses "
                f"{key}={probe_config[key]!r}; the numbers are not comparable. Align the configuration or "
                "re-accept with --codeguard-update")


def _mark_noise(check: MetricCheck, stderr, more_data: str) -> str | None:
    """Records the metric's SE on the check, marks it within noise of its limit (gating/noise.py) and returns the
    warning about its tolerance, if any. A non-finite obtained value keeps its own note."""
    usable_type = isinstance(stderr, (int, float)) and not isinstance(stderr, bool)
    check.stderr = float(stderr) if usable_type else math.nan
    if not isinstance(check.obtained, (int, float)) or not math.isfinite(check.obtained):
        return None
    if within_noise(check.obtained, check.limit, stderr):
        check.within_noise = True
        check.note = within_noise_note(check.passed, more_data)
    return noise_warning(check.metric, check.baseline, check.limit, check.direction, stderr, more_data)


def gate(suite: str, metrics: dict[str, float], baseline: Baseline | None = None,
         limits: dict[str, float] | None = None, ref_spec: str = "", opt_spec: str = "",
         stderr: dict[str, float] | None = None, more_data: str = "more data") -> GateVerdict:
    """Checks every baseline metric and every absolute limit; a metric missing from the result fails. `stderr`
    (metric -> standard error, the probe's `uncertainty()`) adds the noise checks; `more_data` is what a re-run
    needs to shrink the noise ("a larger corpus")."""
    verdict = GateVerdict(suite, baseline_path=str(baseline.path) if baseline and baseline.path else None,
                          ref_spec=ref_spec, opt_spec=opt_spec)
    if baseline is not None:
        for name, entry in sorted(baseline.metrics.items()):
            verdict.checks.append(_check(name, metrics.get(name), entry.value, entry.limit(), entry.direction,
                                         "baseline", {"rtol": entry.rtol, "atol": entry.atol}))
    for name, limit in sorted((limits or {}).items()):
        direction = direction_of(name)
        if direction is None:
            raise ConfigError(f"limit {name}={limit}: unknown metric {name!r}")
        verdict.checks.append(_check(name, metrics.get(name), None, float(limit), direction, "limit"))
    for check in verdict.checks:
        if check.metric in (stderr or {}):
            warning = _mark_noise(check, stderr[check.metric], more_data)
            if warning and warning not in verdict.warnings:
                verdict.warnings.append(warning)
    return verdict


def evaluate(result, suite: str, baseline: Baseline | None = None, limits: dict[str, float] | None = None
             ) -> GateVerdict:
    """The one gate path (the plugin and `assert_within_baseline` both take it): the baseline must belong to this
    reference and probe configuration, the gated metrics must be exact (with no baseline, every metric: accepting
    stores them), then every check runs. The result's notes travel on the verdict."""
    if baseline is not None:
        if baseline.suite != suite:
            raise BaselineError(f"baseline {baseline.path} holds suite '{baseline.suite}', not '{suite}'")
        check_reference(baseline, result.ref.fingerprint, result.ref.spec)
        check_probe_config(baseline, result.probe_config(), result.nuisance_config, result.probe_config_defaults)
        check_complete(baseline, suite, result.gate_metrics())
    check_exact_sources(result, suite, None if baseline is None else {*baseline.metrics, *(limits or {})})
    verdict = gate(suite, result.gate_metrics(), baseline=baseline, limits=limits, ref_spec=result.ref.spec,
                   opt_spec=result.opt.spec, stderr=getattr(result, "uncertainty", dict)(),
                   more_data=getattr(result, "more_data", "more data"))
    verdict.notes = list(result.gate_notes())
    return verdict


def parse_limits(items: list[str], languages=()) -> dict[str, float]:
    """Parses `METRIC=VALUE` items (from --codeguard-limit or the ini); direction comes from the metric. A name no
    suite gates (a typo like `pkp_rel_shift.pyhton`) is an error with the nearest names, never a NaN row."""
    limits = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep:
            raise ConfigError(f"limit {item!r}: expected METRIC=VALUE, e.g. js_divergence=0.01")
        problem = metric_problem(name, languages)
        if problem:
            raise ConfigError(f"limit {item!r}: {problem}")
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"limit {item!r}: {value.strip()!r} is not a number") from None
        if not math.isfinite(number):
            raise ConfigError(f"limit {item!r}: the limit must be finite")
        limits[name] = number
    return limits


__all__ = ["GateVerdict", "MetricCheck", "gate", "evaluate", "parse_limits", "check_reference",
           "check_probe_config", "check_exact_sources", "HIGHER", "LOWER"]
