"""A sample's descendant that keeps signalling every process of its uid must be gone before the worker forks the
next sample: checkers answer before the cleanup ends, but the next fork waits for it, so the honest samples that
follow on the same worker keep their verdicts."""
import pytest

from tests.hostile.conftest import ADD_ONE, CORRECT, processes_with, require_isolation, samples_may_fork


def test_a_leftover_cannot_reach_the_next_sample(executor, token):
    require_isolation(executor)  # as root without a sandbox, kill(-1) would hit the whole machine
    if not "unprivileged uid of their own" in executor.isolation:
        pytest.skip(f"samples share the worker's uid here, so kill(-1) would hit the worker: {executor.isolation}")
    attack = f"""    import os, sys
    if getattr(add_one, "attacked", False):  # one leftover; the test calls twice
        return x + 1
    add_one.attacked = True
    KILLER = ("import os, sys\\nspare = {{os.getpid(), int(sys.argv[1])}}\\nos.write(int(sys.argv[2]), b'!')\\n"
              "while True:\\n"
              "    for name in os.listdir('/proc'):\\n        if name.isdigit() and int(name) not in spare:\\n"
              "            try:\\n                os.kill(int(name), 9)\\n            except OSError:\\n"
              "                pass")
    sample = os.getpid()
    ready, started = os.pipe()
    os.set_inheritable(started, True)
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            # kills every process it may, over and over, but itself and this sample (whose verdict is then
            # honest): the next sample too, were it forked before this leftover is dead
            os.execv(sys.executable, [sys.executable, "-c", KILLER, str(sample), str(started), {token!r}])
        os._exit(0)
    os.read(ready, 1)  # the leftover is running when the verdict comes in
    return x + 1
"""
    samples = [(ADD_ONE.task_id, 0, attack)] + [(ADD_ONE.task_id, n, CORRECT) for n in range(1, 7)]
    verdicts = executor.run({ADD_ONE.task_id: ADD_ONE}, samples)
    # where samples may not fork, the leftover is never made
    assert verdicts[0].verdict == ("passed" if samples_may_fork(executor) else "error"), verdicts[0]
    assert [v.verdict for v in verdicts[1:]] == ["passed"] * 6, verdicts[1:]
    assert processes_with(token) == []
