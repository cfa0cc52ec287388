"""Resource limits and the privilege drop applied to a sample process before it runs untrusted code, and the two
steps of cgroup.py's layout that the worker and its samples take (imports only os and resource: the worker stays
cheap to fork).

Why the privilege drop: the kernel exempts root (kuid 0, even inside a user namespace) from RLIMIT_NPROC, so a
fork bomb run as root is unbounded. A sample therefore runs as an unprivileged uid of its own, which also stops it
from signalling or tracing the worker and from writing anything root owns.
"""
from __future__ import annotations

import os
import resource

MIB = 1 << 20


def apply_rlimits(memory_mb: int, cpu_seconds: int, max_processes: int, max_file_mb: int,
                  max_open_files: int) -> None:
    """Sets soft and hard limits together, so the sample cannot raise them again."""
    for limit, value in ((resource.RLIMIT_AS, memory_mb * MIB),
                         (resource.RLIMIT_CPU, cpu_seconds),
                         (resource.RLIMIT_NPROC, max_processes),
                         (resource.RLIMIT_FSIZE, max_file_mb * MIB),
                         (resource.RLIMIT_NOFILE, max_open_files),
                         (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(limit, (value, value))


def drop_privileges(uid: int) -> None:
    """Becomes `uid` (and gid `uid`) with no supplementary groups; irreversibly, since all three ids change."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


def join_sample_cgroup(directory: str) -> None:
    """Moves the calling process (a freshly forked sample) into the sample cgroup."""
    with open(os.path.join(directory, "sample", "cgroup.procs"), "w") as handle:
        handle.write("0")


def cgroup_oom_kills(directory: str) -> int:
    """How many processes the sample cgroup's OOM killer has ended so far."""
    try:
        with open(os.path.join(directory, "sample", "memory.events")) as handle:
            for line in handle:
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0
