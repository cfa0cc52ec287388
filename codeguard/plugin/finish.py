"""The end of a pytest run: collect the run's results and write its reports, history and step summary.

Called by the plugin's `pytest_sessionfinish`; it returns (message, is_error) lines for the terminal summary and
never raises, because a report that cannot be written must not change the exit status the gates gave.
"""
from __future__ import annotations

import time
from pathlib import Path

from codeguard.languages.corpus import load_corpus
from codeguard.probes.tokenizer_analysis import analyse_tokenizer
from codeguard.report.outputs import step_summary_path, write_outputs
from codeguard.report.results import build_results, dumps, git_state, merge_results, utc_now
from codeguard.tokenization.loader import model_tokenizer


def worker_payload(codeguard_session) -> str | None:
    """What an xdist worker sends to the controller (its gates ran there), or None when nothing ran."""
    if codeguard_session.results() or codeguard_session.verdicts:
        return dumps(session_results(codeguard_session))
    return None


def finish_run(codeguard_session, exit_status: int, rootdir: Path) -> list[tuple[str, bool]]:
    """Writes whatever the options ask for (report folder, history, GitHub step summary); returns the lines."""
    options, run_record = codeguard_session.options, codeguard_session.run
    step_summary = step_summary_path() if options.gh_summary else None
    own = codeguard_session.results() or codeguard_session.verdicts
    ran = own or run_record.worker_results
    if options.report_dir is None and options.history is None and not (step_summary and ran):
        return []
    started_at, started_clock = run_record.started or (None, None)
    run = {"started": None if started_at is None else
           time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(started_at)), "finished": utc_now(),
           "duration_s": None if started_clock is None else time.perf_counter() - started_clock}
    try:
        data = session_results(codeguard_session, exit_status=exit_status, rootdir=rootdir)
        data["run"].update(run)
        if run_record.worker_results and not own:
            data = merge_results(run_record.worker_results, run=data["run"])
    except Exception as error:  # never INTERNALERROR: the gates' exit status must stand
        return [(f"codeguard: reports not written: could not collect the results: {type(error).__name__}: {error}",
                 True)]
    return write_outputs(data, options.report_dir, options.history, step_summary if ran else None)


def calibrate_written(codeguard_session, pytest_args: list[str]) -> tuple[list[tuple[str, bool]], bool]:
    """--codeguard-calibrate: calibrates the suites this update run wrote (`codeguard.calibrate`, the same runs and
    rule as `codeguard calibrate`), running again the test files that wrote them. Returns (lines, failed)."""
    from codeguard.calibrate import calibrate, table
    from codeguard.errors import CodeguardError
    options = codeguard_session.options
    written = [w for w in codeguard_session.written if w.suite and w.origin is not None]
    if not written:
        return [("codeguard: --codeguard-calibrate: no baseline was written, nothing to calibrate", False)], False
    ref, opt = (spec.text for spec in codeguard_session.specs)
    lines = [(f"codeguard: calibrating {', '.join(w.suite for w in written)} for {opt} (each suite runs again "
              "under other thread counts, CPU kernel sets, batch sizes and seeds)", False)]
    files = {w.suite: Path(w.origin) for w in written}
    try:
        for calibration in calibrate(ref, opt, list(files), options.baseline_dir, slot=options.slot, files=files,
                                     only=options.calibrate_perturbations, pytest_args=pytest_args,
                                     project=options.rootdir, log=lambda line: None):
            lines += [(line, False) for line in table(calibration).splitlines()]
            lines.append((f"codeguard: wrote calibrated tolerances into {calibration.path}", False))
    except CodeguardError as error:
        return lines + [(f"codeguard: calibration failed: {error}", True)], True
    return lines, False


def session_results(session, *, exit_status=None, rootdir: Path | None = None) -> dict:
    """results.json of a pytest run's CodeguardSession (the plugin calls this on the controller)."""
    options = session.options
    run = {"invocation": list(options.invocation),
           "exit_status": None if exit_status is None else int(exit_status), "model_pair": options.model_pair,
           "slot": options.slot, "update": options.update, "git": git_state(rootdir) if rootdir else None,
           "device": options.placement.describe() if options.placement is not None else options.device}
    return build_results(session.timed_results(), session.verdicts, session.written,
                         tokenizers=pair_tokenizers(session), run=run)


def pair_tokenizers(session) -> list:
    """Coverage and fertility of the pair's tokenizer, from models a gate already loaded (sub-second)."""
    pair = session.loaded_pair
    if pair is None:
        return []
    registry = session.options.registry
    corpus = load_corpus(session.options.corpus, registry)
    return [analyse_tokenizer(model_tokenizer(pair.opt if pair.cached else pair.ref), registry, corpus=corpus)]
