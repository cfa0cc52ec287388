"""/tmp and /dev/shm outlived the sample: filling them gave later samples ENOSPC, and an inode flood of empty
directories left 3 M inodes and 3 GB of kernel memory behind. Each sample gets its own bounded scratch, gone when
it ends: the samples after an attack on the same workers find /tmp and /dev/shm empty and whole."""
from codeguard.humaneval.problems import Problem

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


IPC = Problem(
    task_id="hostile/ipc",
    prompt="def ipc(x):\n",
    entry_point="ipc",
    test="def check(candidate):\n    assert candidate(0) == [], candidate(0)\n",
)
# System V shared memory and POSIX message queues live in the IPC namespace, not in a process or a filesystem:
# a segment filled by one sample would outlive it, for the next to read or for memory to pile up.
LEAVE_IPC = """    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    made = []
    if libc.shmget(0x5eed, 64 << 20, 0o1666) >= 0:  # IPC_CREAT | 0666
        made.append("shm")
    if libc.msgget(0x5eed, 0o1666) >= 0:
        made.append("msg")
    if libc.semget(0x5eed, 1, 0o1666) >= 0:
        made.append("sem")
    if libc.syscall(240, b"/codeguard", 0o100 | 0o2, 0o666, None) >= 0:  # mq_open(O_CREAT | O_RDWR)
        made.append("mqueue")
    return made
"""


def test_no_ipc_object_outlives_a_sample(executor):
    samples = [(IPC.task_id, n, LEAVE_IPC) for n in range(4)]
    assert [v.verdict for v in executor.run({IPC.task_id: IPC}, samples)] == ["passed"] * 4
