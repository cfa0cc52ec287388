"""The end of a pytest run: collect the run's results and write its reports, history and step summary.

Called by the plugin's `pytest_sessionfinish`; it returns (message, is_error) lines for the terminal summary and
never raises, because a report that cannot be written must not change the exit status the gates gave.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from codeguard.report.outputs import write_outputs
from codeguard.report.results import dumps, merge_results, session_results, utc_now


def worker_payload(codeguard_session) -> str | None:
    """What an xdist worker sends to the controller (its gates ran there), or None when nothing ran."""
    if codeguard_session.results() or codeguard_session.verdicts:
        return dumps(session_results(codeguard_session))
    return None


def finish_run(codeguard_session, settings: dict, exit_status: int, rootdir: Path) -> list[tuple[str, bool]]:
    """Writes whatever the settings ask for (report folder, history, GitHub step summary); returns the lines."""
    step_summary = None
    if settings["gh_summary"] and os.environ.get("GITHUB_STEP_SUMMARY"):
        step_summary = Path(os.environ["GITHUB_STEP_SUMMARY"])
    own = codeguard_session.results() or codeguard_session.verdicts
    ran = own or settings["worker_results"]
    if settings["report_dir"] is None and settings["history"] is None and not (step_summary and ran):
        return []
    started_at, started_clock = settings["started"] or (None, None)
    run = {"started": None if started_at is None else
           time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(started_at)), "finished": utc_now(),
           "duration_s": None if started_clock is None else time.perf_counter() - started_clock}
    try:
        data = session_results(codeguard_session, exit_status=exit_status, rootdir=rootdir)
        data["run"].update(run)
        if settings["worker_results"] and not own:
            data = merge_results(settings["worker_results"], run=data["run"])
    except Exception as error:  # never INTERNALERROR: the gates' exit status must stand
        return [(f"codeguard: reports not written: could not collect the results: {type(error).__name__}: {error}",
                 True)]
    return write_outputs(data, settings["report_dir"], settings["history"], step_summary if ran else None)
