"""A candidate kills itself with a real-time signal. Describing the death called signal.Signals(40), which raises
ValueError inside the test's call of the candidate, and a test that expects ValueError caught it: `passed`. The
death of the sample must end the sample with its own verdict, never run through the test as an exception."""
import pytest

from codeguard.humaneval.problems import Problem

from tests.hostile.conftest import forged_frame_completion, run_one

EXPECTS_VALUE_ERROR = Problem(
    task_id="hostile/expects_value_error",
    prompt="def strict(x):\n",
    entry_point="strict",
    test=("def check(candidate):\n    try:\n        candidate(-1)\n    except ValueError:\n        pass\n"
          "    else:\n        raise AssertionError('no ValueError')\n"),
)


@pytest.mark.parametrize("number", [34, 40, 64])
def test_a_real_time_signal_is_killed_not_a_caught_exception(executor, number):
    verdict = run_one(executor, f"    import os\n    os.kill(os.getpid(), {number})\n", EXPECTS_VALUE_ERROR)
    assert verdict.verdict == "killed", verdict
    assert f"signal {number}" in verdict.detail or "SIGRT" in verdict.detail


def test_a_test_that_swallows_everything_still_gets_the_death(executor):
    problem = Problem("hostile/swallows", "def f(x):\n", "f",
                      "def check(candidate):\n    try:\n        candidate(1)\n    except BaseException:\n"
                      "        pass\n")
    verdict = run_one(executor, "    import os\n    os.kill(os.getpid(), 40)\n", problem)
    assert verdict.verdict == "killed", verdict


def test_a_malformed_error_reply_is_not_an_exception_in_the_test(executor):
    """The sample writes an error frame the checker cannot turn into an exception (nested past the recursion
    limit): that is the sample's invalid reply, not a RecursionError for the test to catch."""
    problem = Problem("hostile/swallows_recursion", "def f(x):\n", "f",
                      "def check(candidate):\n    try:\n        candidate(1)\n    except Exception:\n"
                      "        pass\n")
    completion = forged_frame_completion(
        """    forged = b'E{"type":"ValueError","message":' + b'[' * 100000 + b']' * 100000 + b'}'\n""")
    verdict = run_one(executor, completion, problem)
    assert verdict.verdict == "invalid", verdict
