"""One-line conditions on any probe's metrics (`"pkp_rel_shift.python <= 0.05"`), evaluated as a gate verdict.

A condition is `METRIC OP NUMBER` with OP one of `<=`, `<`, `>=`, `>`: the operator gives the direction, so a
condition needs no metric registry and works on every metric a result reports, gated or not. A metric the result
does not have, or a condition that does not parse, is an error naming it (and the nearest names the result has);
a NaN or infinite value fails whatever the operator.
"""
from __future__ import annotations

import difflib
import math
import numbers
import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass

from codeguard.errors import ApproximateSourceError, ConfigError
from codeguard.gating.gate import GateVerdict, MetricCheck
from codeguard.gating.rules import HIGHER, LOWER

_CONDITION = re.compile(r"^\s*(?P<metric>[^\s<>=!]+)\s*(?P<op><=|>=|<|>|==|!=|=)\s*(?P<value>[^\s<>=!]\S*)\s*$")
_OPERATORS = {"<=": (operator.le, LOWER), "<": (operator.lt, LOWER), ">=": (operator.ge, HIGHER),
              ">": (operator.gt, HIGHER)}
GRAMMAR = "METRIC OP NUMBER with OP one of <=, <, >=, > (e.g. 'pkp_rel_shift.python <= 0.05')"


@dataclass(frozen=True)
class Condition:
    metric: str
    op: str
    limit: float
    text: str

    def holds(self, value: float) -> bool:
        return _OPERATORS[self.op][0](value, self.limit)

    @property
    def direction(self) -> str:
        return _OPERATORS[self.op][1]


def parse_condition(text: str) -> Condition:
    """`"kl_ref_opt < 0.01"` -> Condition; anything else is a ConfigError that quotes it and gives the grammar."""
    if not isinstance(text, str):
        raise ConfigError(f"condition {text!r}: expected a string, {GRAMMAR}")
    match = _CONDITION.match(text)
    if match is None:
        raise ConfigError(f"condition {text!r} does not parse: expected {GRAMMAR}")
    op = match["op"]
    if op not in _OPERATORS:
        raise ConfigError(f"condition {text!r}: '{op}' compares floats for equality; use <=, <, >= or >")
    try:
        limit = float(match["value"])
    except ValueError:
        raise ConfigError(f"condition {text!r}: {match['value']!r} is not a number") from None
    if not math.isfinite(limit):
        raise ConfigError(f"condition {text!r}: the limit must be a finite number")
    return Condition(match["metric"], op, limit, text.strip())


def metric_values(result) -> dict[str, float]:
    """Every number a result reports under a flat name: its gate metrics (per language as `name.language`, per k as
    `name@k`), its other overall figures (reported, not gated, e.g. `entropy_ref`) and its per-language figures
    (`kld_p99.python`, `top1_lost_share.rust`). A mapping of names to numbers is taken as is."""
    if isinstance(result, Mapping):
        return {str(name): value for name, value in result.items() if _is_number(value)}
    values = {}
    for table in (getattr(result, "metrics", None), getattr(result, "overall", None)):
        values.update({name: value for name, value in (table or {}).items() if _is_number(value)})
    for language, stats in (getattr(result, "per_language", None) or {}).items():
        if isinstance(stats, Mapping):
            values.update({f"{name}.{language}": value for name, value in stats.items() if _is_number(value)})
    values.update(result.gate_metrics())
    return values


def _is_number(value) -> bool:
    """A real number (numpy's included, bools not), or None: a metric the probe could not compute, which fails."""
    return value is None or (isinstance(value, numbers.Real) and not isinstance(value, bool))


def conditions_verdict(result, conditions, suite: str | None = None) -> GateVerdict:
    """Checks every condition on the result's metrics; the verdict is labelled `suite` (default: the result's)."""
    if isinstance(conditions, str):
        conditions = [conditions]
    parsed = [parse_condition(text) for text in conditions]
    if not parsed:
        raise ConfigError(f"no condition given: pass one or more strings of the form {GRAMMAR}")
    values = metric_values(result)
    is_result = not isinstance(result, Mapping)
    what = f"the {result.probe} result" if is_result else "the metrics given"
    for condition in parsed:
        if condition.metric not in values:
            raise ConfigError(_unknown_metric(condition, values, what))
    if is_result:
        _refuse_approximate(result, [c.metric for c in parsed])
    label = suite or (result.suite if is_result else "custom")
    verdict = GateVerdict(label, ref_spec=result.ref.spec if is_result else "",
                          opt_spec=result.opt.spec if is_result else "")
    for condition in parsed:
        value = values[condition.metric]
        finite = value is not None and math.isfinite(value)
        passed = finite and condition.holds(value)
        note = ("not a finite number" if not finite else
                f"equal to the limit; '{condition.op}' is strict" if not passed and value == condition.limit else "")
        verdict.checks.append(MetricCheck(condition.metric, float("nan") if value is None else float(value), None,
                                          condition.limit, condition.direction, "limit", passed, note))
    return verdict


def _unknown_metric(condition: Condition, values: dict, what: str) -> str:
    names = sorted(values)
    nearest = difflib.get_close_matches(condition.metric, names, n=4, cutoff=0.6)
    if nearest:
        hint = "nearest: " + ", ".join(nearest)
    else:
        hint = "it has: " + ", ".join(names[:12]) + (f" and {len(names) - 12} more" if len(names) > 12 else "")
    return f"condition {condition.text!r}: {what} has no metric {condition.metric!r}; {hint}"


def _refuse_approximate(result, metrics: list[str]) -> None:
    """A condition on a metric computed from a served model's approximate distribution would pass or fail on the
    approximation (the same refusal as the gate's, limited to the metrics named)."""
    approximate = sorted(set(metrics) & set(result.approximate_metrics()))
    if approximate:
        source = result.approximate_models()[0]
        raise ApproximateSourceError(
            f"conditions on {', '.join(approximate)} refused: {source.spec} ({source.backend}) gives approximate "
            "next-token distributions (top-k log-probabilities), from which these metrics are not exact")
