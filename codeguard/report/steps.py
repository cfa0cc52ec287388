"""Step-change detection: did a metric move beyond its run-to-run noise?

Rule (robust, so one earlier outlier does not hide or fake a step): for the value x at run i, take the previous
`window` values (at least `min_history` of them, else no verdict). With m their median and
MAD = 1.4826 · median(|v − m|) (the normal-consistent median absolute deviation), x is a step change when

    |x − m| > k · max(MAD, rel_floor · |m|, abs_floor)

with k = 5, window = 20, min_history = 8, rel_floor = 1e-3, abs_floor = 1e-12 by default. On Gaussian noise
this flags about 0.2 % of runs falsely and catches most 6-sigma steps (a MAD of fewer than 8 values is itself too
noisy: with 5, 2 % false flags). The floors keep a metric that never moved (MAD = 0, e.g. a deterministic CPU
probe) from flagging float noise, while any real change of more than 0.5 % of such a metric is flagged. Non-finite values are never a baseline for others; a
non-finite value after finite history is a step.

Over a series, a step starts a new level: later runs are compared with the runs from the step on, so one move is
flagged once, not again at every run until the window forgets the old level (and the first `min_history` - 1
runs after a step get no verdict).
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

MAD_SCALE = 1.4826


@dataclass(frozen=True)
class StepRule:
    k: float = 5.0
    window: int = 20
    min_history: int = 8
    rel_floor: float = 1e-3
    abs_floor: float = 1e-12


def noise_band(history: list[float], rule: StepRule = StepRule()) -> tuple[float, float] | None:
    """(median, half-width) of the band a next value may fall in without being a step; None if too little history."""
    recent = [v for v in history[-rule.window:] if v is not None and math.isfinite(v)]
    if len(recent) < rule.min_history:
        return None
    median = statistics.median(recent)
    mad = MAD_SCALE * statistics.median(abs(v - median) for v in recent)
    return median, rule.k * max(mad, rule.rel_floor * abs(median), rule.abs_floor)


def is_step(history: list[float], value: float | None, rule: StepRule = StepRule()) -> bool:
    band = noise_band(history, rule)
    if band is None or value is None:
        return False
    if not math.isfinite(value):
        return True
    median, half_width = band
    return abs(value - median) > half_width


def step_flags(values: list[float | None], rule: StepRule = StepRule()) -> list[bool]:
    """For each run, whether its value is a step change against the runs before it."""
    flags, level_start = [], 0
    for i, value in enumerate(values):
        flagged = is_step(values[level_start:i], value, rule)
        if flagged:
            level_start = i
        flags.append(flagged)
    return flags
