"""Trend reports over the history: per model pair and metric, the values over runs, the runs where a gate failed
and the step changes (below); as HTML for people and as JSON for dashboards.

Step-change detection: did a metric move beyond its run-to-run noise?

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

from codeguard.atomic_files import json_text
from codeguard.report import plots
from codeguard.report.formatting import fmt
from codeguard.report.html import plot, table, template_environment

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


TREND_SCHEMA = "codeguard-trends"
TREND_SCHEMA_VERSION = 1


def analyse(history: dict, rule: StepRule = StepRule()) -> dict:
    """Per pair and metric: the series with step and gate-failure flags, and what the latest run did."""
    pairs = {}
    for slug, entry in history["pairs"].items():
        metrics = {}
        for name, points in entry["metrics"].items():
            values = [p["value"] for p in points]
            flags = step_flags(values, rule)
            band = noise_band(values[:-1], rule)
            latest = points[-1]
            metrics[name] = {
                "points": [{**p, "step": flag} for p, flag in zip(points, flags)],
                "gated": any(p["suite"] for p in points),
                "failed_runs": sum(1 for p in points if p["passed"] is False),
                "steps": sum(flags),
                "latest": {"run": latest["run"], "value": latest["value"], "step": flags[-1],
                           "passed": latest["passed"],
                           "median_before": band[0] if band else None, "noise_band": band[1] if band else None}}
        pairs[slug] = {"ref": entry["ref"], "opt": entry["opt"], "metrics": metrics}
    return {"schema": TREND_SCHEMA, "schema_version": TREND_SCHEMA_VERSION,
            "step_rule": {"k": rule.k, "window": rule.window, "min_history": rule.min_history,
                          "rel_floor": rule.rel_floor, "abs_floor": rule.abs_floor},
            "runs": history["runs"], "pairs": pairs}


def _strict(value):
    """JSON for dashboards is strict: non-finite numbers become null (JavaScript's JSON.parse rejects NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strict(v) for v in value]
    return value


def render_trends_json(trends: dict) -> str:
    return json_text(_strict(trends), sort_keys=False)  # _strict: dashboards' JSON parsers take no NaN


def _plotted(name: str, series: dict) -> bool:
    """Plot what moved or failed, and every metric that is not a per-language detail; the rest goes in a table."""
    return series["failed_runs"] > 0 or series["steps"] > 0 or "." not in name.split("/", 1)[1]


def render_trends_html(trends: dict) -> str:
    sections = []
    for slug, pair in trends["pairs"].items():
        metrics = pair["metrics"]
        order = sorted(metrics, key=lambda n: (-metrics[n]["latest"]["step"], -(metrics[n]["latest"]["passed"] is False),
                                               -metrics[n]["steps"], -metrics[n]["failed_runs"], n))
        flagged = [[name, fmt(s["latest"]["value"]), fmt(s["latest"]["median_before"]),
                    fmt(s["latest"]["noise_band"]), "step" if s["latest"]["step"] else "",
                    {True: "passed", False: "FAILED", None: "-"}[s["latest"]["passed"]]]
                   for name in order if (s := metrics[name])["latest"]["step"] or s["latest"]["passed"] is False]
        figures = []
        for name in order:
            series = metrics[name]
            if not _plotted(name, series):
                continue
            points = series["points"]
            figures.append(plot(plots.trend, [p["finished"] for p in points], [p["value"] for p in points],
                                [p["passed"] is False for p in points], [p["step"] for p in points], name,
                                [p["limit"] for p in points], caption=f"{name} over {len(points)} runs"))
        rest = [[name, fmt(metrics[name]["latest"]["value"]), fmt(metrics[name]["latest"]["median_before"]),
                 str(len(metrics[name]["points"]))] for name in order if not _plotted(name, metrics[name])]
        sections.append({"id": slug, "title": f"{pair['opt']} vs {pair['ref']}", "slug": slug, "plots": figures,
                         "flagged": table(["metric", "latest", "median before", "noise band ±", "step", "gate"],
                                          flagged, "latest run: step changes and failed gates",
                                          [row[5] == "FAILED" or row[4] == "step" for row in flagged]),
                         "rest": table(["metric", "latest", "median before", "runs"], rest,
                                       "steady per-language metrics (no step, no failure)")})
    runs = [[str(r["id"]), r["finished"], (r["git_commit"] or "-")[:12], r["host"] or "-",
             "passed" if r["passed"] else "FAILED"] for r in trends["runs"]]
    return template_environment().get_template("trends.html.j2").render(
        sections=sections, rule=trends["step_rule"], runs=table(["run", "finished", "commit", "host", "gates"], runs,
                                                                "runs", [not r["passed"] for r in trends["runs"]]))
