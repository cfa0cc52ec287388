"""Which isolation can be put in force on this machine, and the command line that starts a worker under it.

With bubblewrap a worker sees a read-only root, private /tmp and /dev/shm, no network, and only its own pid
namespace. Samples additionally drop to an unprivileged uid (see limits.py) when the worker runs as root; for that
uid to import Python, directories it may not traverse (pyenv under a 0700 /root, say) are hidden behind a tmpfs
and only the interpreter's own trees are bound back, read-only.
"""
from __future__ import annotations

import ctypes
import functools
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import codeguard

# Sample uids live far above the ranges distributions and rootless containers hand out (1000+, 100000+). Adding
# the checker's pid makes the uid unique on the machine while the checker lives, so RLIMIT_NPROC, which the kernel
# counts per uid, is a budget of this worker's samples alone.
SANDBOX_UID_BASE = 2_000_000_000
MIB = 1 << 20


@dataclass(frozen=True)
class Isolation:
    mode: str                    # "bwrap" or "none"
    command_prefix: tuple[str, ...]
    tmp_root: str                # where per-sample directories are made, as the worker sees it
    drops_privileges: bool       # whether samples run as SANDBOX_UID_BASE + checker pid
    description: str


def _world_traversable(path: Path) -> bool:
    mode = path.stat().st_mode
    return bool(mode & stat.S_IXOTH and mode & stat.S_IROTH)


def interpreter_paths() -> list[Path]:
    """The directories a sample's imports read from: the interpreter, its prefixes, sys.path, codeguard itself."""
    candidates = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                  os.path.dirname(os.path.realpath(sys.executable)),
                  str(Path(codeguard.__file__).resolve().parents[1])}
    candidates.update(entry for entry in sys.path if os.path.isabs(entry))
    paths = sorted({Path(os.path.realpath(c)) for c in candidates if os.path.isdir(c)} - {Path("/")})
    return [p for p in paths if not any(p != other and p.is_relative_to(other) for other in paths)]


def _hidden_ancestor(path: Path) -> Path | None:
    """The outermost proper ancestor that other users may not traverse, if any."""
    for ancestor in reversed(path.parents):
        if ancestor != Path("/") and not _world_traversable(ancestor):
            return ancestor
    return None


def unhide_arguments(paths: list[Path]) -> tuple[list[str], bool]:
    """bwrap arguments that make `paths` readable to any uid; and whether every path then is."""
    arguments, masked = [], set()
    readable = True
    for path in paths:
        ancestor = _hidden_ancestor(path)
        if ancestor is not None:
            if ancestor not in masked:
                masked.add(ancestor)
                arguments += ["--tmpfs", str(ancestor)]
            # bwrap would make the directories between the mask and the path 0700, i.e. hidden again
            for between in reversed(path.parents):
                if between.is_relative_to(ancestor) and between != ancestor:
                    arguments += ["--perms", "0755", "--dir", str(between)]
            arguments += ["--ro-bind", str(path), str(path)]
        readable = readable and _world_traversable(path)
    return arguments, readable


def _python_world_readable(paths: list[Path]) -> bool:
    return all(_hidden_ancestor(p) is None and _world_traversable(p) for p in paths)


def bwrap_arguments(tmp_mb: int) -> tuple[list[str], bool]:
    """The bwrap command prefix, and whether samples can drop to an unprivileged uid under it."""
    paths = interpreter_paths()
    unhide, readable = unhide_arguments(paths)
    size = str(tmp_mb * MIB)
    root = os.geteuid() == 0
    # As root the worker also mounts a fresh /tmp and /dev/shm over these for each sample.
    arguments = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                 "--perms", "1777", "--size", size, "--tmpfs", "/tmp",
                 "--perms", "1777", "--size", size, "--tmpfs", "/dev/shm",
                 # Sockets of the host's services live under /run (Docker's, D-Bus's; /var/run links there): hidden,
                 # on top of the seccomp filter that refuses AF_UNIX sockets anyway.
                 *([] if any(p.is_relative_to("/run") for p in paths) else ["--tmpfs", "/run"]),
                 *unhide,
                 # /tmp-hosted interpreters (a venv in /tmp) must come back after the private /tmp
                 *[arg for p in paths if p.is_relative_to("/tmp") and p != Path("/tmp")
                   for arg in ("--ro-bind", str(p), str(p))],
                 "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
                 "--die-with-parent", "--new-session", "--chdir", "/"]
    if root:
        # The worker keeps only what it needs to confine samples and clean up after them (CAP_SYS_ADMIN: to mount
        # each sample's tmpfs; samples lose every capability when they drop to their uid).
        arguments += ["--cap-drop", "ALL"]
        for cap in ("CAP_SETUID", "CAP_SETGID", "CAP_CHOWN", "CAP_KILL", "CAP_DAC_OVERRIDE", "CAP_FOWNER",
                    "CAP_SYS_ADMIN"):
            arguments += ["--cap-add", cap]
    return arguments, root and readable


# Nothing of the harness's environment (API keys, CI tokens) is passed on: checkers, workers and samples get these
# variables and no others, whatever the harness's environment holds.
SAMPLE_ENVIRONMENT_KEYS = ("PATH", "LANG", "HOME", "TMPDIR", "PYTHONPATH", "PYTHONHASHSEED", "PYTHONDONTWRITEBYTECODE",
                           "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def checker_environment() -> dict[str, str]:
    """A fixed, minimal environment: codeguard importable, one thread per numeric library, no bytecode writes to
    a read-only tree. The checker's string hashes stay randomized (a sample cannot aim collisions at them)."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp", "TMPDIR": "/tmp",
            "PYTHONPATH": str(Path(codeguard.__file__).resolve().parents[1]), "PYTHONDONTWRITEBYTECODE": "1",
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def worker_environment() -> dict[str, str]:
    """The checker's environment with a fixed hash seed: set iteration order decides some samples' outputs."""
    env = {**checker_environment(), "PYTHONHASHSEED": "0"}
    assert sorted(env) == sorted(SAMPLE_ENVIRONMENT_KEYS)
    return env


@functools.lru_cache(maxsize=None)
def scratch_mount_problem() -> str | None:
    """Why workers cannot mount a fresh tmpfs per sample here (they need root with CAP_SYS_ADMIN, which a container
    may withhold), or None. Tried in a forked child, in a mount namespace of its own."""
    if os.geteuid() != 0:
        return "not root"
    libc = ctypes.CDLL(None, use_errno=True)
    pid = os.fork()
    if pid == 0:  # only libc calls, then _exit: safe in a child of a threaded process
        ok = (libc.unshare(0x20000) == 0 and libc.mount(None, b"/", None, (1 << 14) | (1 << 18), None) == 0
              and libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 0, b"size=1m") == 0)
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    return None if status == 0 else "root without the right to mount (CAP_SYS_ADMIN, seccomp of a container)"


@functools.lru_cache(maxsize=None)
def bwrap_problem(tmp_mb: int) -> str | None:
    """Why bubblewrap cannot be used here, or None if a trial sandbox started and ran Python."""
    if shutil.which("bwrap") is None:
        return "bwrap is not installed (apt-get install bubblewrap)"
    arguments, _ = bwrap_arguments(tmp_mb)
    try:
        trial = subprocess.run([*arguments, sys.executable, "-c", ""], env=worker_environment(),
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bwrap failed to start: {error}"
    if trial.returncode != 0:
        stderr = trial.stderr.decode(errors="replace").strip().splitlines()
        return f"bwrap exited with status {trial.returncode}: {stderr[-1] if stderr else 'no message'}"
    return None


def resolve(mode: str, tmp_mb: int) -> tuple[Isolation, str | None]:
    """The isolation to use for `mode` ("auto", "bwrap", "none"), and why bwrap is not used if it is not."""
    problem = None if mode == "none" else bwrap_problem(tmp_mb)
    reason = "isolation='none' was requested" if mode == "none" else f"bwrap unavailable: {problem}"
    if mode != "none" and problem is None:
        arguments, drops = bwrap_arguments(tmp_mb)
        who = ("samples run as an unprivileged uid of their own" if drops
               else "samples run as the worker's uid")
        return Isolation("bwrap", tuple(arguments), "/tmp", drops,
                         "bubblewrap: network namespace, read-only filesystem, private /tmp and /dev/shm, "
                         f"pid namespace; {who}"), None
    drops = os.geteuid() == 0 and _python_world_readable(interpreter_paths())
    processes = ("" if drops or os.geteuid() != 0
                 else "; max_processes NOT enforced (root, and Python is not readable by an unprivileged uid)")
    return Isolation("none", (), tempfile.gettempdir(), drops,
                     f"none: NO network or filesystem isolation ({reason}){processes}"), problem
