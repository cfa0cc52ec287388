"""Writes one run's reports wherever the user asked: a report folder, the history database, the GitHub step
summary. Each output is independent: one failing (a full disk, a locked database) does not stop the others, and
none of them can change a gate's verdict; the caller gets one line per outcome to show.

The GitHub Actions step summary: the Markdown report appended to $GITHUB_STEP_SUMMARY, cut to fit.

GitHub drops a step summary over 1 MiB entirely (and with it the verdicts), so the report is cut at a line
boundary to leave room for what earlier steps wrote, with a note saying where the whole report is.
"""
from __future__ import annotations

import os
from pathlib import Path

from codeguard.atomic_files import write_text_atomically
from codeguard.errors import CodeguardError, ReportError
from codeguard.report.history import append_run
from codeguard.report.html import render_html
from codeguard.report.markdown import render_markdown
from codeguard.report.results import write_results

RESULTS_FILE, MARKDOWN_FILE, HTML_FILE = "results.json", "report.md", "report.html"


def write_report_dir(data: dict, folder: Path) -> list[Path]:
    """results.json, report.md and report.html in `folder` (created if missing)."""
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
            run_id = append_run(history, data)
            return f"codeguard: run {run_id} appended to history {history}"
        attempt("history", append)
    if step_summary is not None:
        def summarize():
            where = str(Path(report_dir) / "report.html") if report_dir is not None else ""
            size = append_step_summary(render_markdown(data), step_summary, where)
            return f"codeguard: summary appended to the GitHub step summary ({size} bytes)"
        attempt("GitHub step summary", summarize)
    return lines


STEP_SUMMARY_LIMIT = 1024 * 1024
MARGIN = 16 * 1024  # room for the note and for other steps' small appends


def truncate_markdown(text: str, budget: int, where: str = "") -> str:
    """`text` if it fits `budget` bytes (UTF-8), else its first lines and a note of what was cut."""
    encoded = text.encode("utf-8")
    if len(encoded) <= budget:
        return text
    note = (f"\n\n> **codeguard: summary truncated** ({len(encoded)} bytes; GitHub's step-summary limit is 1 MiB)."
            f"{' The full report: ' + where if where else ''}\n")
    room = max(0, budget - len(note.encode("utf-8")))
    cut = encoded[:room].decode("utf-8", "ignore")
    cut = cut[:cut.rfind("\n")] if "\n" in cut else ""
    return cut + note


def step_summary_path(environ=os.environ) -> Path | None:
    value = environ.get("GITHUB_STEP_SUMMARY")
    return Path(value) if value else None


def append_step_summary(markdown: str, path: Path, where: str = "") -> int:
    """Appends the (cut) report to the step summary file; returns the bytes written."""
    path = Path(path)
    try:
        used = path.stat().st_size if path.exists() else 0
        text = truncate_markdown(markdown, max(0, STEP_SUMMARY_LIMIT - used - MARGIN), where)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text if text.endswith("\n") else text + "\n")
    except OSError as error:
        raise ReportError(f"cannot append to the GitHub step summary {path} (GITHUB_STEP_SUMMARY): "
                          f"{error.strerror or error}") from None
    return len(text.encode("utf-8"))
