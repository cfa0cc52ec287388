"""The history database: several runs, two writers at once, schema checks, trends as HTML and JSON."""
import json
import math
import multiprocessing
import sqlite3
from types import SimpleNamespace

import pytest

from codeguard.errors import ReportError
from codeguard.gating.gate import gate
from codeguard.humaneval.problems import Problem, ProblemSet
from codeguard.probes.pass_at_k import PassAtKConfig, summarize
from codeguard.report.history import LATEST, append_run, load_run_results, open_history, pair_slug, read_history
from codeguard.report.results import build_results
from codeguard.report.trends import analyse, render_trends_html, render_trends_json

REF = SimpleNamespace(spec="zoo:tiny-code", fingerprint="sha256:r", backend="torch")
OPT = SimpleNamespace(spec="zoo:tiny-code@int4-rtn", fingerprint="sha256:o", backend="torch")
PAIR = pair_slug(REF.spec, OPT.spec)


def run_document(opt_solved: int, stamp: int) -> dict:
    """A run's results: a real pass@k result (from executed-sample records) and its gate, with a pass@1 limit
    of 0.5, so a run whose opt solves fewer than half the problems fails."""
    problems = ProblemSet("synthetic:10", tuple(Problem(f"T/{i}", "def f():\n", "f", "def check(c): pass\n")
                                                for i in range(10)))

    def samples(solved):
        return {f"T/{i}": [{"completion": "", "verdict": "passed" if i < solved else "failed", "detail": ""}] * 5
                for i in range(10)}
    result = summarize(REF, OPT, PassAtKConfig(n_samples=5, ks=(1, 5)), problems,
                       {"ref": samples(8), "opt": samples(opt_solved)}, "test")
    verdict = gate("pass_at_k", result.gate_metrics(), limits={"pass@1": 0.5}, ref_spec=REF.spec, opt_spec=OPT.spec)
    return build_results([(result, 1.0)], [verdict], run={"finished": f"2026-01-{stamp:02d}T02:00:00+00:00"})


def test_several_runs_make_series_with_failures_and_one_step_change(tmp_path):
    history = tmp_path / "nightly" / "history.sqlite"
    solved = [8] * 8 + [3] * 3  # the quantization broke at run 9
    ids = [append_run(history, run_document(s, day + 1)) for day, s in enumerate(solved)]
    assert ids == list(range(1, 12))
    data = read_history(history, PAIR)
    series = data["pairs"][PAIR]["metrics"]["pass-at-k/pass@1"]
    assert [p["value"] for p in series] == pytest.approx([s / 10 for s in solved])
    assert [p["passed"] for p in series] == [True] * 8 + [False] * 3
    assert series[0]["suite"] == "pass_at_k" and series[0]["limit"] == 0.5
    trends = analyse(data)
    points = trends["pairs"][PAIR]["metrics"]["pass-at-k/pass@1"]["points"]
    assert [p["step"] for p in points] == [False] * 8 + [True, False, False]  # flagged once, at the break
    assert load_run_results(history, 9)["summary"]["failed_gates"] == ["pass_at_k"]


def test_trend_reports_mark_failures_and_steps_as_html_and_strict_json(tmp_path):
    history = tmp_path / "history.sqlite"
    for day, s in enumerate([8] * 8 + [3], start=1):
        append_run(history, run_document(s, day))
    trends = analyse(read_history(history))
    page = render_trends_html(trends)
    assert f"(--pair {PAIR})" in page and "plot unavailable" not in page
    latest = page.split("latest run: step changes and failed gates", 1)[1].split("</table>", 1)[0]
    assert "pass-at-k/pass@1" in latest and "FAILED" in latest and "step" in latest
    assert page.count("<svg") >= 4
    text = render_trends_json(trends)
    assert "NaN" not in text and "Infinity" not in text
    dashboard = json.loads(text)
    assert dashboard["schema"] == "codeguard-trends" and dashboard["step_rule"]["k"] == 5.0
    assert dashboard["pairs"][PAIR]["metrics"]["pass-at-k/pass@1"]["latest"] == {
        "run": 9, "value": 0.3, "step": True, "passed": False, "median_before": 0.8, "noise_band": pytest.approx(0.004)}


def _append_many(path, start, count, queue):
    try:
        for i in range(count):
            append_run(path, run_document(8, start + i))
        queue.put(None)
    except BaseException as error:  # report to the parent, which asserts
        queue.put(repr(error))


def test_two_processes_appending_at_once_lose_nothing(tmp_path):
    history = tmp_path / "shared.sqlite"
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    writers = [context.Process(target=_append_many, args=(history, start, 8, queue)) for start in (1, 11)]
    for writer in writers:
        writer.start()
    outcomes = [queue.get(timeout=240) for _ in writers]
    for writer in writers:
        writer.join(timeout=60)
    assert outcomes == [None, None]
    with sqlite3.connect(history) as db:
        assert db.execute("SELECT count(*), count(DISTINCT run_uuid) FROM runs").fetchone() == (16, 16)
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        per_run = db.execute("SELECT count(*) FROM measurements GROUP BY run_id").fetchall()
    assert len(per_run) == 16 and len(set(per_run)) == 1  # every run complete: one transaction each


def test_a_run_is_appended_once(tmp_path):
    document = run_document(8, 1)
    append_run(tmp_path / "h.sqlite", document)
    with pytest.raises(ReportError, match=f"already holds run {document['run']['id']}"):
        append_run(tmp_path / "h.sqlite", document)


def test_a_file_that_is_not_sqlite_is_refused_by_name(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a database")
    with pytest.raises(ReportError, match=r"history .*notes.txt is not an SQLite database"):
        append_run(path, run_document(8, 1))
    assert path.read_text() == "not a database"


def test_an_sqlite_database_of_another_schema_is_refused_untouched(tmp_path):
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE invoices (id INTEGER)")
    with pytest.raises(ReportError, match=r"history .*other.sqlite is an SQLite database of another schema "
                                          r"\(application id 0x0, tables invoices\)"):
        append_run(path, run_document(8, 1))
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 0


def test_a_history_from_a_newer_codeguard_is_refused(tmp_path):
    path = tmp_path / "h.sqlite"
    append_run(path, run_document(8, 1))
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {LATEST + 1}")
    with pytest.raises(ReportError, match=rf"h.sqlite has schema version {LATEST + 1}, written by a newer codeguard"):
        read_history(path)


def test_a_fresh_history_is_migrated_to_the_latest_schema(tmp_path):
    with open_history(tmp_path / "h.sqlite") as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == LATEST
        assert connection.execute("PRAGMA application_id").fetchone()[0] == 0x63677264


def test_reading_a_missing_history_or_an_unknown_pair_says_what_exists(tmp_path):
    with pytest.raises(ReportError, match=r"history .*none.sqlite does not exist; write one with pytest "
                                          r"--codeguard-history"):
        read_history(tmp_path / "none.sqlite")
    append_run(tmp_path / "h.sqlite", run_document(8, 1))
    with pytest.raises(ReportError, match=f"no runs of model pair 'x__y'; it has {PAIR}"):
        read_history(tmp_path / "h.sqlite", "x__y")


def test_non_finite_metrics_are_kept(tmp_path):
    document = run_document(8, 1)
    document["probes"][0]["gate_metrics"]["pass@1"] = math.nan
    append_run(tmp_path / "h.sqlite", document)
    series = read_history(tmp_path / "h.sqlite")["pairs"][PAIR]["metrics"]["pass-at-k/pass@1"]
    assert math.isnan(series[0]["value"])


def test_cli_renders_history_trends_and_one_stored_run(tmp_path, capsys):
    from codeguard.cli.main import main
    history = tmp_path / "h.sqlite"
    for day in range(1, 4):
        append_run(history, run_document(8, day))
    assert main(["report", "--history", str(history), "--html", str(tmp_path / "t.html"), "--json",
                 str(tmp_path / "t.json"), "--pair", PAIR]) == 0
    assert "<svg" in (tmp_path / "t.html").read_text()
    assert json.loads((tmp_path / "t.json").read_text())["pairs"][PAIR]["metrics"]["pass-at-k/pass@1"]["steps"] == 0
    assert main(["report", "--history", str(history), "--run", "2", "--md", str(tmp_path / "run2.md")]) == 0
    assert (tmp_path / "run2.md").read_text().startswith("## codeguard: all 1 gates passed")
    assert main(["report", "--history", str(history), "--md", str(tmp_path / "x.md")]) == 2
    assert "--md renders one run" in capsys.readouterr().err
    (tmp_path / "bad.sqlite").write_bytes(b"\x00" * 64)
    assert main(["report", "--history", str(tmp_path / "bad.sqlite"), "--html", str(tmp_path / "x.html")]) == 2
    assert "bad.sqlite is not an SQLite database" in capsys.readouterr().err
