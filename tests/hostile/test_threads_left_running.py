"""Threads that keep running after the candidate returns must neither delay the verdict nor survive the sample."""
import time

from tests.hostile.conftest import TIMEOUT, processes_with, run_one, sleeper_source


def test_busy_threads_die_with_the_sample(executor, token):
    completion = f"""    import os, sys, threading
    def spin():
        while True:
            pass
    def spawn_later():
        import time
        time.sleep(0.3)
        if os.fork() == 0:
            {sleeper_source(token)}
    for _ in range(3):
        threading.Thread(target=spin).start()
    threading.Thread(target=spawn_later).start()
    return x + 1
"""
    started = time.monotonic()
    verdict = run_one(executor, completion)
    assert verdict.verdict == "passed", verdict
    assert time.monotonic() - started < TIMEOUT
    time.sleep(0.5)  # past the moment the thread would have forked
    assert processes_with(token) == []
