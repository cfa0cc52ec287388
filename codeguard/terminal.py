"""The end-of-run terminal summary: one row per gated metric (obtained, baseline, tolerance, limit, verdict), then
baselines written in update mode, rollouts, and where the reports went."""
from __future__ import annotations

from codeguard.report.formatting import fmt as _fmt
from codeguard.report.tolerance import check_tolerances, describe


def gate_rows(verdict) -> list[tuple[str, ...]]:
    """The verdict's checks as table rows, header first; tolerance is the baseline's rtol/atol or 'limit'."""
    rows = [("metric", "obtained", "baseline", "tolerance", "limit", "verdict")]
    for check, tolerance in zip(verdict.checks, check_tolerances(verdict)):
        bound = ("<= " if check.direction.startswith("lower") else ">= ") + _fmt(check.limit)
        outcome = "ok" if check.passed else "FAIL" + (f" ({check.note})" if check.note else "")
        rows.append((check.metric, _fmt(check.obtained), _fmt(check.baseline), describe(tolerance, check.source),
                     f"{bound} [{check.source}]", outcome))
    return rows


def format_rows(rows) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]


def write_summary(terminalreporter, session, report_lines=()) -> None:
    rollouts = [r for r in session.results() if getattr(r, "rollouts", None)]
    if not session.verdicts and not session.written and not rollouts and not report_lines:
        return
    terminalreporter.write_sep("-", "codeguard gate summary")
    for verdict in session.verdicts:
        status = "PASSED" if verdict.passed else "FAILED"
        terminalreporter.write_line(f"{verdict.suite}: {status}  ({verdict.opt_spec} vs {verdict.ref_spec}; "
                                    f"baseline {verdict.baseline_path or '-'})")
        for line in format_rows(gate_rows(verdict)):
            terminalreporter.write_line("  " + line)
    for written in session.written:
        terminalreporter.write_line(f"codeguard: wrote baseline {written.path}")
        if written.diff:
            for line in written.diff.splitlines():
                terminalreporter.write_line("    " + line)
    for result in rollouts:
        for side in ("ref", "opt"):
            summary = result.rollouts[side]
            spec = result.ref.spec if side == "ref" else result.opt.spec
            terminalreporter.write_line(f"cold-start rollouts of {spec} (n={summary['n']}, "
                                        f"{summary['distinct_first_tokens']} distinct first tokens), first lines:")
            for row in summary["first_lines"][:5]:
                terminalreporter.write_line(f"    {row['count']:>4}  {row['line'][:80]!r}")
    for line, is_error in report_lines:
        terminalreporter.write_line(line, red=is_error, bold=is_error)
