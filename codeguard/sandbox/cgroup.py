"""Memory and process limits for a sample as a whole, through a delegated cgroup v2 subtree.

Rlimits are per process: a sample that forks holds its address-space limit once per process. A cgroup bounds all
of a sample's processes together (memory.max, kernel memory and tmpfs pages included; pids.max) and its OOM kill
ends all of them (memory.oom.group). Without one, samples may not create processes at all (syscalls.py).

Where: a cgroup v2 directory that is *delegated* to codeguard: the memory and pids controllers are available in it
(listed in its cgroup.controllers), it is writable, and it holds no process (the kernel lets a cgroup hand
controllers to its children only then). `CODEGUARD_CGROUP=/sys/fs/cgroup/DIR` names one; otherwise codeguard tries
the cgroup it runs in, which normally holds the harness itself and so does not qualify. As root, for example:

    mkdir /sys/fs/cgroup/codeguard && echo "+memory +pids" > /sys/fs/cgroup/cgroup.subtree_control
    export CODEGUARD_CGROUP=/sys/fs/cgroup/codeguard

Layout, one subtree per executor (removed when it closes):
    DIR/codeguard-<executor pid>/checker-<checker pid>/worker   the checker, its worker (no limits)
                                                   /sample   the running sample: memory.max, pids.max, oom.group
The checker moves itself into .../worker before it starts its worker; each sample moves itself into .../sample
right after the fork, before it drops its privileges (limits.join_sample_cgroup); the checker binds its directory
into bubblewrap, writable.
"""
from __future__ import annotations

import errno
import os
from pathlib import Path

CGROUP_ENV = "CODEGUARD_CGROUP"
CONTROLLERS = ("memory", "pids")
MIB = 1 << 20


def _cgroup2_mount() -> Path | None:
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split(" - ", 1)
        if len(fields) == 2 and fields[1].split()[0] == "cgroup2":
            return Path(fields[0].split()[4])
    return None


def _own_cgroup(mount: Path) -> Path | None:
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                return mount / line[3:].lstrip("/")
    except OSError:
        pass
    return None


def _enable(directory: Path) -> None:
    """Hands the memory and pids controllers to `directory`'s children (EBUSY if it holds processes)."""
    enabled = set((directory / "cgroup.subtree_control").read_text().split())
    if not set(CONTROLLERS) <= enabled:
        (directory / "cgroup.subtree_control").write_text(" ".join(f"+{name}" for name in CONTROLLERS))


def delegated_root() -> tuple[Path | None, str]:
    """A new cgroup for this executor's samples under a delegated directory, or None and why there is none."""
    explicit = os.environ.get(CGROUP_ENV)
    mount = _cgroup2_mount()
    if explicit:
        base = Path(explicit)
    elif mount is None:
        return None, "no cgroup v2 hierarchy is mounted"
    else:
        base = _own_cgroup(mount)
        if base is None:
            return None, "this process is in no cgroup v2"
    try:
        available = set((base / "cgroup.controllers").read_text().split())
    except OSError as error:
        return None, f"{base} is not a cgroup v2 directory ({error.strerror})"
    missing = [name for name in CONTROLLERS if name not in available]
    if missing:
        return None, f"the {' and '.join(missing)} controller{'s are' if len(missing) > 1 else ' is'} not " \
                     f"delegated to {base}"
    root = base / f"codeguard-{os.getpid()}"
    try:
        _enable(base)
        root.mkdir()
        _enable(root)
    except OSError as error:
        remove(root)
        if error.errno == errno.EBUSY:
            return None, f"{base} holds processes, so it cannot hand controllers to codeguard's cgroups (set " \
                         f"{CGROUP_ENV} to an empty delegated cgroup)"
        return None, f"cannot set up a cgroup under {base} ({error.strerror})"
    return root, ""


def checker_cgroup(root: Path, memory_mb: int, max_processes: int) -> Path:
    """The calling checker's subtree: moves the checker into .../worker, limits .../sample; returns the subtree."""
    directory = root / f"checker-{os.getpid()}"
    directory.mkdir()
    _enable(directory)
    (directory / "worker").mkdir()
    sample = directory / "sample"
    sample.mkdir()
    (sample / "memory.max").write_text(str(memory_mb * MIB))
    for name, value in (("memory.swap.max", "0"), ("memory.oom.group", "1")):
        try:
            (sample / name).write_text(value)
        except OSError:
            pass  # no swap accounting on this kernel; oom.group needs 4.19
    (sample / "pids.max").write_text(str(max_processes))
    (directory / "worker" / "cgroup.procs").write_text("0")
    return directory


def remove(root: Path) -> None:
    """Removes an executor's subtree, deepest first (every process in it must be gone)."""
    if not root.exists():
        return
    for directory in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)) + [root]:
        try:
            directory.rmdir()
        except OSError:
            pass
