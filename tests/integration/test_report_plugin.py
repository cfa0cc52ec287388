"""Reports from real pytest runs (pytester, zoo models): files, terminal, JUnit, GitHub step summary, history, and
report failures that never change the gates' exit status."""
import json
import sqlite3
import xml.etree.ElementTree as ET

import pytest

from tests.helpers import REPO, write_suite

pytestmark = pytest.mark.slow
PAIR = "zoo:tiny-code,zoo:tiny-code@fp16"


@pytest.fixture(autouse=True)
def no_real_step_summary(monkeypatch):
    """These runs must not append to the step summary of the CI job that runs them."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


def _run(pytester, *args):
    write_suite(pytester)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "--codeguard-baseline-dir",
                                         str(pytester.path / "bl"), "--model-pair", PAIR, *args)


def test_a_passing_run_writes_every_report_and_lists_each_gate_with_its_tolerance(pytester, monkeypatch):
    summary = pytester.path / "step-summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = _run(pytester, "--codeguard-update", "--codeguard-report", "out", "--codeguard-history", "h.sqlite",
                  "--codeguard-limit", "js_divergence=0.5")
    result.assert_outcomes(passed=1)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*metric*obtained*baseline*tolerance*limit*verdict",
                                 "*kl_ref_opt *rtol 1.5, atol 0.0005 *<= * ?baseline?*ok",
                                 "*js_divergence *limit *<= 0.5 ?limit?*ok",
                                 "codeguard: report written to out (results.json, report.md, report.html)",
                                 "codeguard: run 1 appended to history h.sqlite",
                                 "codeguard: summary appended to the GitHub step summary (* bytes)"])
    data = json.loads((pytester.path / "out/results.json").read_text())
    assert data["run"]["exit_status"] == 0 and data["run"]["model_pair"] == PAIR and data["run"]["update"]
    assert data["run"]["duration_s"] > 0 and data["probes"][0]["wall_s"] > 0  # timed by the session
    assert data["summary"]["passed"] and data["gates"][0]["probe"] == 0
    assert data["tokenizers"][0]["spec"] == "zoo:tiny-code"
    assert "<svg" in (pytester.path / "out/report.html").read_text()
    assert summary.read_text().startswith("earlier step\n## codeguard: all 1 gates passed")
    with sqlite3.connect(pytester.path / "h.sqlite") as db:
        assert db.execute("SELECT count(*), min(passed) FROM runs").fetchone() == (1, 1)


def test_a_failed_gate_stays_failed_when_its_reports_fail_and_reaches_junit_with_its_message(pytester):
    (pytester.path / "not-a-folder").write_text("")
    (pytester.path / "notes.sqlite").write_text("these are notes, not a database\n")
    junit = pytester.path / "junit.xml"
    result = _run(pytester, "--codeguard-update", "--codeguard-limit", "kl_ref_opt=1e-15", "--codeguard-report",
                  "not-a-folder/out", "--codeguard-history", "notes.sqlite", "--junitxml", str(junit))
    result.assert_outcomes(failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*kl_ref_opt*limit*<= 1e-15 ?limit?*FAIL",
                                 "codeguard: report not written: cannot write not-a-folder/out/results.json*",
                                 "codeguard: history not written: history notes.sqlite is not an SQLite database*"])
    failure = ET.parse(junit).getroot().find(".//testcase/failure")
    assert failure is not None
    assert "codeguard gate 'cold_start' failed for zoo:tiny-code@fp16 against zoo:tiny-code: kl_ref_opt=" in \
        failure.get("message")


def test_a_passed_gate_stays_passed_when_its_report_cannot_be_written(pytester, monkeypatch):
    summary = pytester.path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    (pytester.path / "not-a-folder").write_text("")
    result = _run(pytester, "--codeguard-update", "--codeguard-report", "not-a-folder/out",
                  "--codeguard-no-gh-summary")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["codeguard: report not written: cannot write not-a-folder/out/results.json*"])
    assert not summary.exists()  # --codeguard-no-gh-summary


def test_under_xdist_the_controller_reports_every_workers_gates(pytester):
    pytester.makepyfile(test_keyword_mass=(REPO / "suites" / "test_keyword_mass.py").read_text())
    _run(pytester, "--codeguard-update").assert_outcomes(passed=2)
    result = _run(pytester, "-n", "2", "--codeguard-report", "out")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["codeguard: report written to out (results.json, report.md, report.html)"])
    data = json.loads((pytester.path / "out/results.json").read_text())
    assert sorted(p["probe"] for p in data["probes"]) == ["cold-start", "keyword-mass"]
    assert sorted(g["suite"] for g in data["gates"]) == ["cold_start", "keyword_mass"]
    assert all(data["probes"][g["probe"]]["probe"] == {"cold_start": "cold-start", "keyword_mass": "keyword-mass"}[
        g["suite"]] for g in data["gates"])
