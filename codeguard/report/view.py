"""What the Markdown and HTML reports both say first: the headline, the failed checks and the probes by name."""
from __future__ import annotations

from codeguard.report.formatting import excess


def headline(data: dict) -> str:
    summary = data["summary"]
    if not summary["gates"]:
        return "no gates ran"
    if summary["passed"]:
        return f"all {summary['gates']} gates passed"
    return f"{len(summary['failed_gates'])} of {summary['gates']} gates FAILED: " + ", ".join(summary["failed_gates"])


def failed_checks(data: dict) -> list[tuple[dict, dict]]:
    """(gate, check) of every failing check, the worst overshoot (relative to its limit) first."""
    rows = [(gate, check) for gate in data["gates"] for check in gate["checks"] if not check["passed"]]

    def severity(row):
        over, limit = excess(row[1]), row[1].get("limit") or 0
        if over is None:
            return 0.0
        return over / abs(limit) if limit else over
    return sorted(rows, key=severity, reverse=True)


def pair_text(data: dict) -> str:
    models = data["models"]
    if not models.get("ref"):
        return data["run"].get("model_pair") or "-"
    return f"{models['opt']['spec']} vs {models['ref']['spec']}"


def flipped_problems(result: dict) -> list[dict]:
    """pass@k problems one model solves (most samples pass) and the other does not, with every sample's verdict."""
    first = next(iter(result["comparisons"].values()), {"ref_only": [], "opt_only": []})
    counts = {row["task_id"]: row for row in result["per_problem"]}
    samples = result.get("samples") or {}
    rows = []
    for task, lost in [(t, True) for t in first["ref_only"]] + [(t, False) for t in first["opt_only"]]:
        rows.append({"task_id": task, "lost": lost, "ref_correct": counts.get(task, {}).get("ref_correct"),
                     "opt_correct": counts.get(task, {}).get("opt_correct"),
                     "ref_verdicts": [s["verdict"] for s in samples.get("ref", {}).get(task, [])],
                     "opt_verdicts": [s["verdict"] for s in samples.get("opt", {}).get(task, [])]})
    return rows
