"""The GitHub Actions step summary: the Markdown report appended to $GITHUB_STEP_SUMMARY, cut to fit.

GitHub drops a step summary over 1 MiB entirely (and with it the verdicts), so the report is cut at a line
boundary to leave room for what earlier steps wrote, with a note saying where the whole report is.
"""
from __future__ import annotations

import os
from pathlib import Path

from codeguard.errors import ReportError

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
