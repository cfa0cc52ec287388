"""The simplest hostile completion: it never returns."""
import time

from tests.hostile.conftest import TIMEOUT, run_one


def test_infinite_loop_times_out(executor):
    started = time.monotonic()
    verdict = run_one(executor, "    while True:\n        x += 1\n")
    assert verdict.verdict == "timeout", verdict
    assert verdict.detail == f"exceeded the {TIMEOUT:g} s time limit during call 1 of the candidate"
    assert TIMEOUT <= time.monotonic() - started < TIMEOUT + 3


def test_infinite_loop_while_loading_times_out(executor):
    verdict = run_one(executor, "    return x + 1\nwhile True:\n    pass\n")
    assert verdict.verdict == "timeout", verdict
    assert "exec" in verdict.detail
