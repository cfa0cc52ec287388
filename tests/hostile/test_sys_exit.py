"""`sys.exit(0)` raised in the candidate or at load time ends the sample; it does not count as a pass."""
from tests.hostile.conftest import run_one


def test_sys_exit_during_a_call_is_killed(executor):
    verdict = run_one(executor, "    import sys\n    sys.exit(0)\n")
    assert verdict.verdict == "killed", verdict
    assert verdict.detail == "sys.exit(0) during call 1 of the candidate"


def test_sys_exit_while_loading_is_killed(executor):
    verdict = run_one(executor, "    return x + 1\nraise SystemExit(0)\n")
    assert verdict.verdict == "killed", verdict
    assert verdict.detail == "sys.exit(0) during the program's exec"


def test_exit_builtin_during_a_call_is_killed(executor):
    verdict = run_one(executor, "    exit()\n")
    assert verdict.verdict == "killed", verdict
