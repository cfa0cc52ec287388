"""Writes one run's reports wherever the user asked: a report folder, the history database, the GitHub step
summary. Each output is independent: one failing (a full disk, a locked database) does not stop the others, and
none of them can change a gate's verdict; the caller gets one line per outcome to show."""
from __future__ import annotations

from pathlib import Path

from codeguard.errors import CodeguardError
from codeguard.report.results import write_results, write_text_atomically

RESULTS_FILE, MARKDOWN_FILE, HTML_FILE = "results.json", "report.md", "report.html"


def write_report_dir(data: dict, folder: Path) -> list[Path]:
    """results.json, report.md and report.html in `folder` (created if missing)."""
    from codeguard.report.html import render_html
    from codeguard.report.markdown import render_markdown
    folder = Path(folder)
    written = [write_results(data, folder / RESULTS_FILE)]
    write_text_atomically(folder / MARKDOWN_FILE, render_markdown(data))
    written.append(folder / MARKDOWN_FILE)
    write_text_atomically(folder / HTML_FILE, render_html(data))
    written.append(folder / HTML_FILE)
    return written


def write_outputs(data: dict, report_dir: Path | None = None, history: Path | None = None,
                  step_summary: Path | None = None) -> list[tuple[str, bool]]:
    """Writes each requested output; returns (message, is_error) lines for the terminal."""
    lines = []

    def attempt(what: str, action):
        try:
            lines.append((action(), False))
        except CodeguardError as error:
            lines.append((f"codeguard: {what} not written: {error}", True))
        except Exception as error:  # a report bug must not turn into pytest's INTERNALERROR (exit status 3)
            lines.append((f"codeguard: {what} not written (a codeguard bug, please report it): "
                          f"{type(error).__name__}: {error}", True))

    if report_dir is not None:
        attempt("report", lambda: f"codeguard: report written to {report_dir} "
                                  f"({', '.join(p.name for p in write_report_dir(data, report_dir))})")
    if history is not None:
        def append():
            from codeguard.report.history import append_run
            run_id = append_run(history, data)
            return f"codeguard: run {run_id} appended to history {history}"
        attempt("history", append)
    if step_summary is not None:
        def summarize():
            from codeguard.report.github import append_step_summary
            from codeguard.report.markdown import render_markdown
            where = str(Path(report_dir) / "report.html") if report_dir is not None else ""
            size = append_step_summary(render_markdown(data), step_summary, where)
            return f"codeguard: summary appended to the GitHub step summary ({size} bytes)"
        attempt("GitHub step summary", summarize)
    return lines
