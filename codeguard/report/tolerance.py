"""The tolerance behind each gate check, as stored in the baseline the gate read (reviewers may tune them)."""
from __future__ import annotations

from codeguard.baseline import load_baseline
from codeguard.errors import CodeguardError


def check_tolerances(verdict) -> list[dict | None]:
    """Per check of `verdict`: {"rtol", "atol"} for a baseline check, None for an absolute limit."""
    stored = {}
    if verdict.baseline_path:
        try:
            stored = load_baseline(verdict.baseline_path).metrics
        except CodeguardError:
            stored = {}  # the gate already reported the baseline's problem; the report shows what it can
    tolerances = []
    for check in verdict.checks:
        entry = stored.get(check.metric) if check.source == "baseline" else None
        tolerances.append({"rtol": entry.rtol, "atol": entry.atol} if entry else None)
    return tolerances


def describe(tolerance: dict | None, source: str) -> str:
    """'rtol 1.5, atol 0.0005' for a baseline check, 'limit' for an absolute one, '?' when unknown."""
    if tolerance is not None:
        return f"rtol {tolerance['rtol']:g}, atol {tolerance['atol']:g}"
    return "limit" if source == "limit" else "?"
