"""/tmp and /dev/shm outlived the sample: filling them gave later samples ENOSPC, and an inode flood of empty
directories left 3 M inodes and 3 GB of kernel memory behind. Each sample gets its own bounded scratch, gone when
it ends: the samples after an attack on the same workers find /tmp and /dev/shm empty and whole."""
from codeguard.problems import Problem

from tests.hostile.conftest import ADD_ONE, CORRECT

SCRATCH = Problem(
    task_id="hostile/scratch",
    prompt="def scratch(x):\n",
    entry_point="scratch",
    test="def check(candidate):\n    assert candidate(0) == [[], [], True, True], candidate(0)\n",
)
LOOK = """    import os
    def whole(path):
        stats = os.statvfs(path)
        return stats.f_bfree == stats.f_blocks or stats.f_bfree >= stats.f_blocks - 16
    return [sorted(os.listdir("/tmp")), sorted(os.listdir("/dev/shm")), whole("/tmp"), whole("/dev/shm")]
"""
FILL = """    import os
    for place in ("/tmp", "/dev/shm", os.getcwd()):
        for n in range(10 ** 6):  # bytes until the tmpfs is full (ENOSPC) or the file limit (EFBIG) hits
            try:
                with open(os.path.join(place, f"fill-{n}"), "wb") as handle:
                    handle.write(b"x" * (8 << 20))
            except OSError:
                break
        for n in range(10 ** 6):  # then inodes: empty directories until the tmpfs has none left
            try:
                os.mkdir(os.path.join(place, f"d{n}"))
            except OSError:
                break
    return x + 1
"""


def test_a_filled_scratch_does_not_reach_the_next_samples(executor, token):
    problems = {ADD_ONE.task_id: ADD_ONE, SCRATCH.task_id: SCRATCH}
    samples = [(ADD_ONE.task_id, 0, FILL), (ADD_ONE.task_id, 1, FILL)]
    samples += [(SCRATCH.task_id, n, LOOK) for n in range(2, 8)] + [(ADD_ONE.task_id, 8, CORRECT)]
    verdicts = executor.run(problems, samples)
    assert [v.verdict for v in verdicts] == ["passed"] * len(samples), verdicts
