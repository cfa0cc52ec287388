"""The worker's sweep after a sample: whatever the sample left is killed and reaped; with nothing left, libc's
waitid says so without the sweep's loop. Run in a forked child, whose only children are the test's own."""
import os
import time

from codeguard.sandbox import worker


def _in_a_child(check) -> int:
    pid = os.fork()
    if pid == 0:
        try:
            code = 0 if check() else 1
        except BaseException:
            code = 2
        os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def _leftover_sleeper() -> int:
    pid = os.fork()
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    return pid


def test_nothing_left_is_seen_without_a_sweep():
    assert _in_a_child(lambda: not worker._has_children() and worker._sweep_leftovers() == 0) == 0


def test_a_leftover_is_killed_and_reaped():
    def check() -> bool:
        _leftover_sleeper()
        return worker._has_children() and worker._sweep_leftovers() == 1 and not worker._has_children()
    assert _in_a_child(check) == 0


def test_an_exited_but_unreaped_child_is_reaped():
    def check() -> bool:
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # waits until it is a zombie, and leaves it one
        return worker._has_children() and worker._sweep_leftovers() == 0 and not worker._has_children()
    assert _in_a_child(check) == 0
