"""Cleanup that a sample controls: a 1,200-deep directory chain made the worker's recursive cleanup raise
RecursionError and the worker die (the next sample got `killed`); 180 k empty directories made cleanup outlast the
next sample's timeout (`timeout`). Cleanup is bounded and never charged to another sample."""
import pytest

from tests.hostile.conftest import ADD_ONE, CORRECT

DEEP = """    import os
    for _ in range(1200):
        os.mkdir("d")
        os.chdir("d")
    return x + 1
"""
WIDE = """    import os
    for n in range(180_000):
        try:
            os.mkdir(f"d{n}")
        except OSError:
            break
    return x + 1
"""


@pytest.mark.parametrize("attack", [DEEP, WIDE], ids=["deep", "wide"])
def test_the_samples_after_a_costly_cleanup_keep_their_verdicts(executor, attack):
    samples = [(ADD_ONE.task_id, 0, attack), (ADD_ONE.task_id, 1, attack)]
    samples += [(ADD_ONE.task_id, n, CORRECT) for n in range(2, 8)]
    verdicts = executor.run({ADD_ONE.task_id: ADD_ONE}, samples)
    assert verdicts[0].verdict in ("passed", "timeout") and verdicts[1].verdict in ("passed", "timeout"), verdicts
    assert [v.verdict for v in verdicts[2:]] == ["passed"] * 6, verdicts
