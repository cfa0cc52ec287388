"""A sample that signals every pid it can see: the worker, bubblewrap's init, anything in /proc."""
from tests.hostile.conftest import require_isolation, run_one


def test_sigkill_to_every_visible_pid(executor):
    require_isolation(executor)  # as root without a sandbox this would hit the whole machine
    completion = """    import os, signal
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != os.getpid():
            try:
                os.kill(int(name), signal.SIGKILL)
            except OSError:
                pass
    try:
        os.kill(-1, signal.SIGKILL)
    except OSError:
        pass
    return x + 1
"""
    verdict = run_one(executor, completion)
    # kill(-1) also ends the sample itself where it shares a uid with the worker; the harness lives on.
    assert verdict.verdict in ("passed", "killed"), verdict
