"""AF_VSOCK sockets (the hypervisor's) could be created, and so could user and mount namespaces inside a sample
(capabilities of its own there, mounts). The seccomp filter refuses what a sample has no use for; threads, the
sample's own loopback and socketpair() keep working."""
from codeguard.humaneval.problems import Problem

from tests.hostile.conftest import run_one

REFUSED = Problem(
    task_id="hostile/refused",
    prompt="def refused(x):\n",
    entry_point="refused",
    test="def check(candidate):\n    assert candidate(0) == [], candidate(0)\n",
)
# Returns what it managed: every entry is an escape hatch that should have been closed.
PROBE = """    import ctypes, os, socket, threading
    libc = ctypes.CDLL(None, use_errno=True)
    managed = []
    for name, family in (("AF_VSOCK", 40), ("AF_UNIX", 1), ("AF_NETLINK", 16), ("AF_PACKET", 17),
                         ("AF_ALG", 38), ("AF_XDP", 44), ("AF_UNIX+2**32", 1 + 2 ** 32)):
        fd = libc.syscall(41, family, 1, 0)  # socket(2) itself, so no Python check stands in between
        if fd >= 0:
            managed.append(name)
            os.close(fd)
    for name, flags in (("CLONE_NEWUSER", 0x10000000), ("CLONE_NEWNS", 0x20000), ("CLONE_NEWNET", 0x40000000),
                        ("CLONE_NEWUSER|CLONE_NEWNS", 0x10020000)):
        if libc.unshare(flags) == 0:
            managed.append("unshare " + name)
    if libc.syscall(425, 8, ctypes.c_void_p(0)) >= 0:  # io_uring_setup: its operations bypass seccomp
        managed.append("io_uring")
    if libc.mount(b"none", b"/tmp", b"tmpfs", 0, None) == 0:
        managed.append("mount")
    try:  # memory outside the address-space limit
        os.close(os.memfd_create("hoard"))
        managed.append("memfd")
    except OSError:
        pass
    import ctypes as still_works  # libffi's closures must not need memfd
    still_works.CFUNCTYPE(still_works.c_int, still_works.c_int)(lambda v: v + 1)(1)
    # what honest code uses must still work
    results = []
    worker = threading.Thread(target=lambda: results.append(1))
    worker.start()
    worker.join()
    if results != [1]:
        managed.append("threads are broken")
    left, right = socket.socketpair()
    left.close(), right.close()
    socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
    return managed
"""


def test_vsock_other_families_namespaces_and_mounts_are_refused(executor):
    verdict = run_one(executor, PROBE, REFUSED)
    assert verdict.verdict == "passed", verdict
