"""Work outside any limit: 3 KB of nested try/finally take CPython's compiler gigabytes and seconds (the finally
bodies are copied for every way out). The worker compiled programs before the fork, with no limit, and two
neighbours timed out. A sample's text is compiled in the sample, under its limits and on its clock."""
import time

from tests.hostile.conftest import ADD_ONE, CORRECT, TIMEOUT


def nested_finally(depth: int) -> str:
    lines, indent = ["    return x + 1", "def bomb():"], "    "
    for _ in range(depth):
        lines += [indent + "try:", indent + "    pass", indent + "finally:"]
        indent += "    "
    return "\n".join(lines + [indent + "y = 1"]) + "\n"


def test_a_compile_bomb_is_the_samples_own_verdict(executor):
    bomb = nested_finally(20)
    assert len(bomb) < 4096
    samples = [(ADD_ONE.task_id, 0, bomb), (ADD_ONE.task_id, 1, bomb)]
    samples += [(ADD_ONE.task_id, n, CORRECT) for n in range(2, 8)]
    started = time.monotonic()
    verdicts = executor.run({ADD_ONE.task_id: ADD_ONE}, samples)
    elapsed = time.monotonic() - started
    for verdict in verdicts[:2]:
        assert verdict.verdict in ("error", "memory", "timeout"), verdict
        if verdict.verdict == "timeout":
            assert f"{TIMEOUT:g} s" in verdict.detail
    assert [v.verdict for v in verdicts[2:]] == ["passed"] * 6, verdicts
    # The batch bound (samples x timeout / workers): compiled in the worker, each bomb held it for 17 s.
    bound = len(samples) * TIMEOUT / executor.workers
    assert elapsed < bound, f"{elapsed:.1f} s, bound {bound:g} s"
