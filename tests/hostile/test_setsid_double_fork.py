"""The classic daemon escape: fork, setsid, fork again, let the middle process die so the grandchild is orphaned
into a session of its own. It must still die with the sample; where samples may not fork (no cgroup to bound
their memory as a whole), the first fork is refused."""
from tests.hostile.conftest import processes_with, run_one, samples_may_fork, sleeper_source


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
    if samples_may_fork(executor):
        assert verdict.verdict == "passed", verdict
    else:
        assert (verdict.verdict, verdict.detail) == (
            "error", "PermissionError: [Errno 1] Operation not permitted (raised by the candidate)"), verdict
    assert processes_with(token) == []
