"""Tolerances from measured spread: the rule `codeguard calibrate` writes into a baseline, and its provenance.

The observations of one gated metric are the baseline's recorded value and the value each calibration run
measured (the accepted candidate under another environment: thread counts, CPU kernel set, batch size; for the
sampling suites another seed). With `spread = max - min` of the observations and `margin` (default 3):

    lower-is-better:   limit = max(observations) + margin * spread
    higher-is-better:  limit = min(observations) - margin * spread

The limit leaves `margin` times the whole observed range of room beyond the worst value any run saw (with 3 runs,
max - min is about 1.7 standard deviations of normal noise, so the default margin puts the limit about 5 SD
beyond the worst run). It is written as `rtol 0, atol = |limit - value|` (`value`: the baseline's recorded value),
so the file's own formula `value*(1 ± rtol) ± atol` gives exactly this limit. rtol is 0 because the room was
measured at this value, in the metric's own units; nothing measured says it scales with the value. A reviewer may
still edit rtol and atol afterwards (`--codeguard-update` keeps what they set, and the provenance block keeps what
calibration wrote, so the edit shows).

Where that atol is below the floor `max(1e-9, 1e-5 * |value|)` the floor is written instead: a metric that did
not move at all (spread 0, e.g. top-1 agreement between models that agree) must still pass the harmless noise no
calibration run happened to show. 1e-5 relative is twice the rounding of a stored value (6 significant digits,
at most 5e-6 relative); 1e-9 absolute is far above float64 summation error over a vocabulary (~1e-12) and far
below the smallest hand-set tolerance of any built-in metric (1e-4), so it passes noise and nothing else.
atol is rounded up to 3 significant digits, so the file stays readable and every observation stays inside.
"""
from __future__ import annotations

import math
import statistics
from decimal import ROUND_CEILING, Decimal
from dataclasses import dataclass

from codeguard.errors import ConfigError
from codeguard.gating.baselines import SIGNIFICANT_DIGITS, Baseline, MetricBaseline
from codeguard.gating.rules import HIGHER, LOWER

DEFAULT_MARGIN = 3.0
FLOOR_ABS = 1e-9
FLOOR_REL = 1e-5
ATOL_DIGITS = 3


@dataclass(frozen=True)
class CalibratedTolerance:
    """One metric's calibration: the observations, their spread, and the tolerance the rule derives."""

    metric: str
    direction: str
    value: float          # the baseline's recorded value (also one of the observations)
    observations: tuple[float, ...]
    spread: float         # max - min of the observations
    sd: float             # their sample standard deviation (0 for one observation)
    worst: float          # the worst observation in the metric's direction
    atol: float           # written with rtol 0
    floored: bool         # the floor, not the spread, set atol

    @property
    def limit(self) -> float:
        return self.value + self.atol if self.direction == LOWER else self.value - self.atol

    def provenance(self) -> dict:
        return {"values": [_round(v) for v in self.observations[1:]], "spread": _round(self.spread),
                "sd": _round(self.sd), "worst": _round(self.worst), "atol": self.atol, "floored": self.floored}


def _round(value: float) -> float:
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def floor_for(value: float) -> float:
    """The smallest atol calibration writes for a metric recorded at `value`."""
    return max(FLOOR_ABS, FLOOR_REL * abs(value))


def derive_tolerance(metric: str, direction: str, value: float, runs, margin: float = DEFAULT_MARGIN
                     ) -> CalibratedTolerance:
    """The calibrated tolerance of one metric from the baseline's recorded `value` and the runs' values."""
    if direction not in (LOWER, HIGHER):
        raise ConfigError(f"metric {metric!r}: direction {direction!r}; expected {LOWER!r} or {HIGHER!r}")
    if not (math.isfinite(margin) and margin >= 0):
        raise ConfigError(f"calibration margin {margin!r}: expected a finite number >= 0")
    observations = (float(value), *(float(v) for v in runs))
    bad = [v for v in observations if not math.isfinite(v)]
    if bad:
        raise ConfigError(f"metric {metric!r}: a calibration run measured {bad[0]!r}; a non-finite value has no "
                          "spread to derive a tolerance from (the run is broken: fix it before calibrating)")
    if len(observations) < 3:
        raise ConfigError(f"metric {metric!r}: {len(observations) - 1} calibration run(s); at least 2 are needed "
                          "for a spread")
    spread = max(observations) - min(observations)
    worst = max(observations) if direction == LOWER else min(observations)
    needed = (worst - value if direction == LOWER else value - worst) + margin * spread
    floor = floor_for(value)
    floored = needed < floor
    atol = _round_up(max(needed, floor), ATOL_DIGITS)
    # The file stores `value` and `atol`; the gate recomputes value ± atol in floating point. Rounding up to 3
    # significant digits leaves far more than an ulp of room, but make the coverage certain, not likely.
    while not _covers(direction, value, atol, worst):
        atol = math.nextafter(atol, math.inf)
    return CalibratedTolerance(metric, direction, float(value), observations, spread,
                               statistics.stdev(observations), worst, atol, floored)


def _covers(direction: str, value: float, atol: float, worst: float) -> bool:
    entry = MetricBaseline(value, direction, 0.0, atol)
    return worst <= entry.limit() if direction == LOWER else worst >= entry.limit()


def _round_up(x: float, digits: int) -> float:
    """`x` (> 0) rounded up to `digits` significant digits, ignoring float dust below 1e-9 relative (3 * 0.02 is
    0.06000000000000005 in floating point and stays 0.06; coverage is checked after rounding anyway)."""
    exact = Decimal(repr(x * (1 - 1e-9)))
    return float(exact.quantize(Decimal(1).scaleb(exact.adjusted() - digits + 1), rounding=ROUND_CEILING))


def calibrate_baseline(baseline: Baseline, runs: dict[str, list[float]], margin: float = DEFAULT_MARGIN
                       ) -> dict[str, CalibratedTolerance]:
    """The calibrated tolerance of every metric the baseline gates, from `runs` (metric -> one value per run).

    A gated metric that a run did not measure is an error naming it: a tolerance must cover every run."""
    missing = sorted(set(baseline.metrics) - set(runs))
    if missing:
        raise ConfigError(f"baseline {baseline.path}: the calibration runs did not measure {', '.join(missing[:8])}"
                          f"{' …' if len(missing) > 8 else ''}; every gated metric needs its runs")
    return {name: derive_tolerance(name, entry.direction, entry.value, runs[name], margin)
            for name, entry in sorted(baseline.metrics.items())}


def apply_calibration(baseline: Baseline, tolerances: dict[str, CalibratedTolerance], provenance: dict) -> Baseline:
    """A copy of `baseline` with the calibrated tolerances (rtol 0, atol derived) and the calibration block:
    `provenance` (date, runs, perturbations, margin, codeguard_version, accepted candidate) plus per metric its
    run values, spread, SD, worst value and the atol written."""
    metrics = dict(baseline.metrics)
    for name, tolerance in tolerances.items():
        metrics[name] = MetricBaseline(baseline.metrics[name].value, baseline.metrics[name].direction, 0.0,
                                       tolerance.atol)
    block = {**provenance, "rule": "limit = worst run -/+ margin * (max - min), written as rtol 0; atol >= "
             f"max({FLOOR_ABS:g}, {FLOOR_REL:g} * |value|)",
             "metrics": {name: t.provenance() for name, t in sorted(tolerances.items())}}
    return Baseline(suite=baseline.suite, reference=baseline.reference, accepted=baseline.accepted,
                    probe_config=baseline.probe_config, metrics=metrics, codeguard_version=baseline.codeguard_version,
                    schema_version=baseline.schema_version, not_gated=dict(baseline.not_gated), calibration=block,
                    path=baseline.path)
