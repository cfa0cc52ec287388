"""The end-of-run terminal summary: one row per gated metric (obtained, baseline, tolerance, limit, verdict), then
baselines written in update mode, rollouts, and where the reports went."""
from __future__ import annotations

from codeguard.report.formatting import skipped_files_text


def write_summary(terminalreporter, session, report_lines=()) -> None:
    if session.run.skipped_without_pair:
        terminalreporter.write_sep("-", "codeguard gate summary")
        terminalreporter.write_line(
            f"codeguard: no gate ran: no --model-pair given ({session.run.skipped_without_pair} gate(s) skipped; "
            "set codeguard_required = true in the pytest ini file to make that a failure)", yellow=True, bold=True)
    rollouts = [r for r in session.results() if getattr(r, "rollouts", None)]
    skipped = any(skipped_files_text(getattr(r, "skipped_files", None)) for r in session.results())
    if not session.verdicts and not session.written and not rollouts and not report_lines and not skipped:
        return
    terminalreporter.write_sep("-", "codeguard gate summary")
    for verdict in session.verdicts:
        status = "PASSED" if verdict.passed else "FAILED"
        terminalreporter.write_line(f"{verdict.suite}: {status}  ({verdict.opt_spec} vs {verdict.ref_spec}; "
                                    f"baseline {verdict.baseline_path or '-'})")
        for line in verdict.table().splitlines():
            terminalreporter.write_line("  " + line)
        for warning in verdict.warnings:
            terminalreporter.write_line(f"  warning: {warning}", yellow=True)
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
    for result in session.results():
        skipped = skipped_files_text(getattr(result, "skipped_files", None))
        if skipped:
            terminalreporter.write_line(f"codeguard: {skipped}", yellow=True)
    for line, is_error in report_lines:
        terminalreporter.write_line(line, red=is_error, bold=is_error)
