"""A checker without a deadline: 100 k ints with colliding hashes in a set kept the checker busy 33 s, and with a
large completion queued behind it the executor blocked writing, so its watchdog never fired. Decoding refuses such
values, test code that runs long on a sample's values is stopped, the executor never blocks writing, and the slow
sample is the one that gets `timeout`, not the batch."""
import time

from codeguard.humaneval.problems import Problem
from codeguard.sandbox.session import CHECK_SLACK, START_TIMEOUT

from tests.hostile.conftest import ADD_ONE, CORRECT, TIMEOUT, forged_frame_completion

COLLIDING = "[k * (2 ** 61 - 1) for k in range(1, 100_001)]"
SET_RETURNED = Problem("hostile/set_returned", "def values(x):\n", "values",
                       "def check(candidate):\n    assert len(candidate(0)) > 0\n")
SET_BUILT_BY_TEST = Problem("hostile/set_built", "def values(x):\n", "values",
                            "def check(candidate):\n    assert len(set(candidate(0))) > 0\n")
# The sample writes the set's encoding itself: building the set would cost the sample, decoding it the checker.
FORGED_SET = forged_frame_completion(
    """    body = ",".join(str(k * (2 ** 61 - 1)) for k in range(1, 100_001))\n"""
    """    forged = ('R{"t":[{"s":[' + body + ']},null]}').encode()\n""")
BIG_CORRECT = CORRECT + "#" + "x" * (8 << 20) + "\n"  # 8 MB: more than a socket buffer, queued behind


def test_slow_values_cost_their_own_sample_only(executor):
    problems = {p.task_id: p for p in (ADD_ONE, SET_RETURNED, SET_BUILT_BY_TEST)}
    samples = [(SET_RETURNED.task_id, 0, FORGED_SET),
               (SET_BUILT_BY_TEST.task_id, 1, f"    return {COLLIDING}\n")]
    samples += [(ADD_ONE.task_id, n, BIG_CORRECT if n % 2 else CORRECT) for n in range(2, 10)]
    started = time.monotonic()
    verdicts = executor.run(problems, samples)
    elapsed = time.monotonic() - started
    assert verdicts[0].verdict == "invalid" and "share hash values" in verdicts[0].detail, verdicts[0]
    assert verdicts[1].verdict == "timeout" and "checker was stopped" in verdicts[1].detail, verdicts[1]
    assert [v.verdict for v in verdicts[2:]] == ["passed"] * 8, verdicts
    # Generous: the slow sample's own budget, a checker restart, and the rest at well under a second each.
    assert elapsed < TIMEOUT + CHECK_SLACK + START_TIMEOUT + 10, elapsed
