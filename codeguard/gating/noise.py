"""A gate's checks against the metric's own noise (its standard error, from the probe's `uncertainty()`).

Two questions, for every check whose metric has a standard error (SE):

- Can the gate tell its tolerance from noise? The tolerance is how far the limit lies from the baseline in the bad
  direction (limit − baseline for a lower-is-better metric). Below 2 SEs the gate flaps: an unchanged candidate
  lands past the limit by chance. Below the detectable change (probes/uncertainty.py: z_0.95 · SE · √2 = 2.33 SEs,
  a one-sided test at alpha 0.05 between two independent runs) the gate cannot see a real change as small as its
  tolerance. Both are warnings about the gate, not verdicts on the candidate.
- Is the obtained value within noise of the limit (within 2 SEs, on either side)? A pass there is still a pass,
  but it says so ("passes, but within noise of the limit"), and a failure says it failed within noise.

An SE that is NaN, infinite or negative is reported as unknown noise (a warning), and decides nothing: a check
still passes or fails on its obtained value alone. A metric without an SE gets no noise check.
"""
from __future__ import annotations

import math

from codeguard.gating.rules import LOWER
from codeguard.number_format import fmt
from codeguard.probes.uncertainty import detectable_change

NOISE_SES = 2.0  # "within noise": this many standard errors


def usable(stderr) -> bool:
    """A standard error the noise checks can use: a finite number >= 0."""
    return isinstance(stderr, (int, float)) and not isinstance(stderr, bool) and math.isfinite(stderr) \
        and stderr >= 0


def tolerance(baseline: float, limit: float, direction: str) -> float:
    """How far the limit lies from the baseline in the metric's bad direction."""
    return limit - baseline if direction == LOWER else baseline - limit


def within_noise(obtained: float, limit: float, stderr: float) -> bool:
    """The obtained value lies within NOISE_SES standard errors of the limit (on either side); never with SE 0."""
    return usable(stderr) and stderr > 0 and math.isfinite(obtained) and abs(obtained - limit) <= NOISE_SES * stderr


def within_noise_note(passed: bool, more_data: str) -> str:
    if passed:
        return f"passes, but within noise of the limit: re-run with {more_data}"
    return f"fails within noise of the limit: re-run with {more_data} to tell"


def noise_warning(metric: str, baseline: float | None, limit: float, direction: str, stderr,
                  more_data: str = "more data") -> str | None:
    """What is wrong with this check's tolerance given the metric's SE (or with the SE itself), or None; None too
    without a baseline (an absolute limit has no tolerance to compare) and with an SE of 0."""
    if not usable(stderr):
        return (f"{metric}: its standard error ({stderr}) is not a finite number >= 0: noise unknown, no "
                "within-noise or tolerance check")
    if baseline is None or not math.isfinite(baseline) or stderr == 0:
        return None
    room, detectable = tolerance(baseline, limit, direction), detectable_change(stderr)
    figures = (f"tolerance {fmt(room)} (limit {fmt(limit)} − baseline {fmt(baseline)}), SE {fmt(stderr)}, "
               f"detectable change {fmt(detectable)}")
    if room < NOISE_SES * stderr:
        return (f"{metric}: tolerance below the metric's own noise (< {NOISE_SES:g} SE): this gate will flap; "
                f"{figures}. Widen the tolerance or measure on {more_data}")
    if room < detectable:
        return (f"{metric}: this gate cannot see a change as small as its tolerance (a one-sided test at alpha 0.05 "
                f"between two runs needs {fmt(detectable)}); {figures}. Widen the tolerance or measure on "
                f"{more_data}")
    return None
