"""The end-of-run terminal summary: one row per gated metric, then baselines written in update mode."""
from __future__ import annotations


def write_summary(terminalreporter, session) -> None:
    if not session.verdicts and not session.written:
        return
    terminalreporter.write_sep("-", "codeguard gate summary")
    for verdict in session.verdicts:
        status = "PASSED" if verdict.passed else "FAILED"
        terminalreporter.write_line(f"{verdict.suite}: {status}  ({verdict.opt_spec} vs {verdict.ref_spec}; "
                                    f"baseline {verdict.baseline_path or '-'})")
        for line in verdict.table().splitlines():
            terminalreporter.write_line("  " + line)
    for written in session.written:
        terminalreporter.write_line(f"codeguard: wrote baseline {written.path}")
        if written.diff:
            for line in written.diff.splitlines():
                terminalreporter.write_line("    " + line)
