"""The memory limit was per process, so a sample that forked held 2.8 GB under a 1 GiB limit. The limit holds for
the sample as a whole: with cgroup v2 its processes share one memory.max; without it, samples may not create
processes, and threads share the one address space the limit bounds."""
import pytest

from tests.hostile.conftest import run_one, samples_may_fork

# 4 x 300 MB against the session executor's 512 MiB limit, each part below the limit by itself.
FORKS = """    import os, time
    children = []
    for _ in range(3):
        pid = os.fork()
        if pid == 0:
            hoard = bytearray(300 << 20)
            for page in range(0, len(hoard), 4096):
                hoard[page] = 1
            time.sleep(10)
            os._exit(0)
        children.append(pid)
    hoard = bytearray(300 << 20)
    time.sleep(0.5)
    return x + 1
"""
THREADS = """    import threading, time
    hoards = []
    def grab():
        try:
            hoards.append(bytearray(300 << 20))
        except MemoryError:
            hoards.append(None)
    workers = [threading.Thread(target=grab) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if None in hoards:
        raise MemoryError("a thread could not allocate")
    return x + 1
"""


def test_forked_children_share_the_limit(executor):
    verdict = run_one(executor, FORKS)
    if samples_may_fork(executor):
        assert verdict.verdict == "memory", verdict
    else:
        assert (verdict.verdict, verdict.detail) == (
            "error", "PermissionError: [Errno 1] Operation not permitted (raised by the candidate)"), verdict


@pytest.mark.parametrize("attempt", range(2))
def test_threads_share_the_limit(executor, attempt):
    verdict = run_one(executor, THREADS)
    assert verdict.verdict == "memory", verdict
