"""The classic daemon escape: fork, setsid, fork again, let the middle process die so the grandchild is orphaned
into a session of its own. It must still die with the sample."""
from tests.hostile.conftest import processes_with, run_one, sleeper_source


def test_daemonised_grandchild_is_killed(executor, token):
    completion = f"""    import os, sys
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.setsid()
            {sleeper_source(token)}
        os._exit(0)
    os.wait()
    return x + 1
"""
    verdict = run_one(executor, completion)
    assert verdict.verdict == "passed", verdict
    assert processes_with(token) == []
