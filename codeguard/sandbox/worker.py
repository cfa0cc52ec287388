"""The warm worker: started once (inside bubblewrap when available), it forks one confined process per sample.

Forking a warm interpreter costs about a millisecond where starting one costs tens. The worker is trusted: it never
runs sample code itself, only forks, waits, and cleans up. It is a child subreaper, so every process a sample
leaves behind (double forks, setsid) is re-parented to it and killed before the next sample starts.

Protocol on the control socket (frames; see framing.py):
  b"S" + entry point and program (start_message)  + the sample's socket as SCM_RIGHTS  -> no reply; first ends
                                          the previous sample if it still runs, then writes the start frame (G) on
                                          the sample's socket and forks: the sample's clock starts there. Binary, and
                                          decoded by the sample: the worker's per-sample steps stay few (see main)
  {"op": "finish", "grace": seconds}  -> {"exit": code | null, "signal": number | null, "killed": bool,
                                          "leftovers": count, "error": text | null, "oom": bool}
Each sample gets fresh scratch: as root a tmpfs on /tmp and on /dev/shm (bounded in bytes and inodes) mounted
before its fork and lazily unmounted after it, so the kernel frees whatever it wrote; otherwise a directory of its
own, removed iteratively within a budget (past it, the worker exits and its checker starts a fresh one).
A sample whose checker is done with it gets EOF on its socket and exits; the worker reaps and cleans up after it
at once, without a message, so the checker only sends "finish" when it needs to know how the sample ended.
Run as `python -m codeguard.sandbox.worker '<json config>'`.
"""
from __future__ import annotations

import ctypes
import errno
import gc
import importlib
import json
import os
import select
import signal
import socket
import sys
import time

from codeguard.sandbox import sample
from codeguard.sandbox.framing import HEADER, recv_frame_with_fds, send_frame
from codeguard.sandbox.limits import cgroup_oom_kills

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
# Imported once here so that each forked sample has them for free (typing alone costs a sample ~1 ms to import).
# Only small ones: every module here makes every fork and exit dearer (a C extension maps 5 more regions, hashlib
# with libcrypto 16), so hashlib, fractions and statistics (one HumanEval solution imports hashlib) are left to the
# samples that use them. For the same reason the worker itself avoids tempfile and shutil (see _remove_tree).
PRELOADED_MODULES = ("typing", "math", "re", "collections", "itertools", "functools", "heapq", "bisect", "string")
MS_NOSUID, MS_NODEV, MS_REC, MS_PRIVATE, MNT_DETACH, CLONE_NEWNS = 2, 4, 1 << 14, 1 << 18, 2, 0x20000
SCRATCH_MOUNTS = (b"/tmp", b"/dev/shm")  # each sample gets fresh ones: nothing it writes outlives it
SCRATCH_INODES = 8192  # files and directories in a sample's scratch: an inode flood stops here
CLEANUP_MAX_ENTRIES = 20_000  # without a scratch mount: more left behind than this and the worker starts afresh
_LIBC = ctypes.CDLL(None, use_errno=True)


def _make_private_dir(parent: str) -> str:
    """A new directory only this worker knows, like tempfile.mkdtemp (a random name that mkdir must create)."""
    while True:
        path = os.path.join(parent, "codeguard-worker-" + os.urandom(8).hex())
        try:
            os.mkdir(path, 0o700)
            return path
        except FileExistsError:
            continue


class CleanupTooLarge(Exception):
    """A sample left more behind than the worker removes one by one: the worker exits and is started afresh."""


def _remove_tree(path: str, budget: int = CLEANUP_MAX_ENTRIES) -> None:
    """Removes a directory without recursion (a 1,200-deep chain made shutil.rmtree raise RecursionError) and
    within a budget of entries (180 k empty directories outlasted the next sample's timeout). Most samples leave
    their directory empty, so a plain rmdir does."""
    try:
        os.rmdir(path)
        return
    except FileNotFoundError:
        return
    except OSError:
        pass
    stack = [path]
    while stack:
        top = stack[-1]
        try:
            entries = list(os.scandir(top))
        except FileNotFoundError:
            stack.pop()
            continue
        budget -= len(entries)
        if budget < 0:
            raise CleanupTooLarge(f"more than {CLEANUP_MAX_ENTRIES} entries left in {path}")
        subdirectories = []
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                subdirectories.append(entry.path)
            else:
                os.unlink(entry.path)
        if subdirectories:
            stack.extend(subdirectories)
        else:
            os.rmdir(top)
            stack.pop()


def _prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


def _children_of(root: int) -> list[int]:
    """Every live descendant of `root`, from /proc (re-read each time: a fork bomb keeps adding some)."""
    parents: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()  # the command name may contain spaces and ')'
        parents.setdefault(int(fields[1]), []).append(int(name))
    found, stack = [], [root]
    while stack:
        for child in parents.get(stack.pop(), ()):
            found.append(child)
            stack.append(child)
    return found


def _has_children() -> bool:
    """Whether any child may be left, exited or not (waitid with WNOWAIT reaps none): False only on ECHILD, so any
    other failure still sweeps. Asked through libc because os.waitpid reports "none" by raising ChildProcessError,
    and building that exception on every sample wrote ~13 pages of the worker (a copy-on-write fault each while a
    sample shares them)."""
    if _LIBC.waitid(os.P_ALL, 0, None, os.WEXITED | os.WNOHANG | os.WNOWAIT) == 0:
        return True
    return ctypes.get_errno() != errno.ECHILD


def _sweep_leftovers() -> int:
    """Kills and reaps every remaining descendant; returns how many were found alive."""
    if not _has_children():  # the usual case: the sample left nothing behind
        return 0
    seen: set[int] = set()
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return len(seen)
        if pid:
            continue
        for leftover in _children_of(os.getpid()):
            seen.add(leftover)
            try:
                os.kill(leftover, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.0005)


START = b"S"  # the first byte of a start message; other control messages are JSON objects


def start_message(program: str, entry_point: str) -> bytes:
    """The start message's payload (after the file descriptor): entry point and program as UTF-8, the program's
    lone surrogates kept (surrogatepass), so the sample compiles exactly the text it was given."""
    name = entry_point.encode("utf-8", "surrogatepass")
    return START + HEADER.pack(len(name)) + name + program.encode("utf-8", "surrogatepass")


def scratch_options(size_mb: int, uid: int | None) -> bytes:
    owner = f",uid={uid},gid={uid}" if uid is not None else ""
    return f"size={size_mb}m,nr_inodes={SCRATCH_INODES},mode=0700{owner}".encode()


def _mount_scratch(path: bytes, options: bytes) -> None:
    """A fresh tmpfs at `path` (scratch_options: bounded in bytes and inodes, owned by the sample's uid): the
    sample's only writable place. Unmounting it afterwards frees all of it at once, however the sample filled it."""
    if _LIBC.mount(b"tmpfs", path, b"tmpfs", MS_NOSUID | MS_NODEV, options) != 0:
        raise OSError(ctypes.get_errno(), f"mounting the sample's scratch tmpfs at {path.decode()} failed")


def _unmount_scratch(path: bytes) -> None:
    if _LIBC.umount2(path, MNT_DETACH) != 0:
        raise OSError(ctypes.get_errno(), f"unmounting the sample's scratch at {path.decode()} failed")


def _private_mount_namespace() -> None:
    """The worker's own mount namespace, so that its per-sample mounts are seen by it and its samples only (without
    bubblewrap they would otherwise cover the host's /tmp)."""
    if _LIBC.unshare(CLONE_NEWNS) != 0 or _LIBC.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        raise OSError(ctypes.get_errno(), "the worker could not make a mount namespace of its own")


class Running:
    """One sample process in flight."""

    def __init__(self, pid: int, workdir: str):
        self.pid, self.workdir = pid, workdir
        try:
            self.pidfd: int | None = os.pidfd_open(pid)  # readable once it exits: the worker reaps it at once
        except OSError:
            self.pidfd = None

    def wait(self, grace: float) -> int | None:
        """The wait status if the process ends by itself within `grace` seconds, else None."""
        deadline = time.monotonic() + grace
        while True:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return status
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if self.pidfd is not None:
                select.select([self.pidfd], [], [], left)
            else:
                time.sleep(min(left, 0.001))

    def kill(self) -> int:
        for kill in (os.killpg, os.kill):
            try:
                kill(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        return os.waitpid(self.pid, 0)[1]

    def close(self) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


class Worker:
    """Runs one sample at a time. Ending a sample (reaping it, killing whatever it left, deleting its directory)
    always completes before the next sample is forked, so nothing of one sample can reach the next; but it need
    not wait for the checker: a sample that exits by itself is cleaned up at once, in parallel with the checker's
    next steps, and a start message first ends whatever the previous sample still runs."""

    def __init__(self, config: dict):
        self.uid = config["uid"]
        self.limits = config["limits"]
        self.scratch_options = scratch_options(config["scratch_mb"], config["uid"])
        self.mount_scratch = config["mount_scratch"]  # a tmpfs per sample, or a directory cleaned up after it
        self.cgroup = config["cgroup"]  # the checker's cgroup directory, or None
        self.oom_kills = 0
        # The worker's own filter is loaded once set-up is done (see main); each sample adds its short one.
        programs = [sample.SeccompProgram(bytes.fromhex(program)) for program in config["seccomp"] or ()]
        self.worker_seccomp, self.seccomp = programs or (None, None)
        self.tmp_root = None
        self.inherited_tmpdir = os.environ.get("TMPDIR")  # what each sample's environment says before it confines
        if self.mount_scratch:
            _private_mount_namespace()
        else:  # one private directory per worker, made once; per-sample directories are numbered inside it
            self.tmp_root = _make_private_dir(config["tmp_root"])
            os.chmod(self.tmp_root, 0o711)  # samples of another uid must traverse to their own directory, not list
        self.samples_started = 0
        self.running: Running | None = None
        self.report: dict | None = None  # how the last sample ended, once it is cleaned up
        self.next_workdir: str | None = None
        self.start_error: str | None = None
        self._prepare_workdir()

    def _prepare_workdir(self) -> None:
        """Makes the next sample's fresh directory (a fresh tmpfs) ahead of time, while no sample process exists."""
        if self.mount_scratch:
            workdir = "/tmp"
            for path in SCRATCH_MOUNTS:
                _mount_scratch(path, self.scratch_options)
        else:
            workdir = os.path.join(self.tmp_root, f"sample-{self.samples_started + 1}")
            os.mkdir(workdir, 0o700)
            if self.uid is not None:
                os.chown(workdir, self.uid, self.uid)
        self.samples_started += 1
        self.next_workdir = workdir

    def _remove_workdir(self, workdir: str) -> None:
        if self.mount_scratch:
            for path in reversed(SCRATCH_MOUNTS):
                _unmount_scratch(path)
        else:
            _remove_tree(workdir)

    def start(self, message: bytes, sample_fd: int) -> None:
        """Starts a sample from a start_message (decoded in the sample: the worker only slices it)."""
        self.end(0.0)  # the checker has moved on: the previous sample's verdict is decided
        self.report, self.start_error = None, None
        try:
            if self.next_workdir is None:
                self._prepare_workdir()
            workdir, self.next_workdir = self.next_workdir, None
            # The sample's clock starts now, after the previous sample's cleanup: that is never charged to it.
            if self.cgroup is not None:
                self.oom_kills = cgroup_oom_kills(self.cgroup)
            os.write(sample_fd, HEADER.pack(len(sample.STARTED)) + sample.STARTED)
            pid = os.fork()
        except OSError as error:
            self.start_error = f"could not start the sample process: {error}"
            os.close(sample_fd)
            return
        if pid == 0:
            (length,) = HEADER.unpack_from(message, 1)
            begin = 1 + HEADER.size
            sample.run(sample_fd, workdir, self.uid, self.limits, message[begin + length:],
                       message[begin:begin + length], self.seccomp, self.cgroup, self.inherited_tmpdir)
        os.close(sample_fd)  # only the sample may hold its end: its death must read as EOF to the checker
        self.running = Running(pid, workdir)

    def end(self, grace: float) -> dict:
        """Ends the current sample (after `grace` seconds if it is still running), kills and reaps everything it
        left, deletes its directory and prepares the next one; returns how it ended (idempotent)."""
        running, self.running = self.running, None
        if running is None:
            if self.report is None:
                self.report = {"exit": None, "signal": None, "killed": False, "leftovers": _sweep_leftovers(),
                               "error": self.start_error or "no sample was running"}
            return self.report
        status = running.wait(grace)
        killed = status is None
        if killed:
            status = running.kill()
        running.close()
        leftovers = _sweep_leftovers()
        self._remove_workdir(running.workdir)  # CleanupTooLarge: the worker exits, its checker starts a fresh one
        try:
            self._prepare_workdir()
        except OSError:
            self.next_workdir = None  # start() tries again and reports the error
        code = os.waitstatus_to_exitcode(status)
        oom = self.cgroup is not None and cgroup_oom_kills(self.cgroup) > self.oom_kills
        self.report = {"exit": code if code >= 0 else None, "signal": -code if code < 0 else None,
                       "killed": killed, "leftovers": leftovers, "error": None, "oom": oom}
        return self.report


def main(argv: list[str]) -> int:
    config = json.loads(argv[1])
    control = socket.socket(fileno=config["fd"])
    os.environ.clear()  # exactly the fixed environment (bubblewrap adds PWD): samples inherit it
    os.environ.update(config["env"])
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # without bubblewrap nothing else ties us to the checker
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    for name in PRELOADED_MODULES:
        importlib.import_module(name)
    sample.warm_up()
    gc.collect()
    gc.freeze()  # the collector then never touches the worker's objects in a sample, sparing copy-on-write faults
    try:
        worker = Worker(config)
    except OSError as error:  # e.g. no right to mount the scratch tmpfs: say so instead of a traceback
        send_frame(control, json.dumps({"error": f"the worker could not set up: {error}"}).encode())
        return 1
    if worker.worker_seccomp is not None:
        worker.worker_seccomp.load()  # inherited by every sample
    send_frame(control, json.dumps({"hello": os.getpid()}).encode())
    while True:
        exited = worker.running.pidfd if worker.running is not None else None
        readable, _, _ = select.select([control] if exited is None else [control, exited], [], [])
        if exited is not None and exited in readable:
            worker.end(0.0)  # it exited by itself (the checker closed its socket): clean up before any start
        if control not in readable:
            continue
        payload, fds = recv_frame_with_fds(control)
        if payload is None:
            worker.end(0.0)
            if worker.next_workdir is not None:
                worker._remove_workdir(worker.next_workdir)
            if worker.tmp_root is not None:
                _remove_tree(worker.tmp_root)
            return 0
        if payload[:1] == START:
            assert len(fds) == 1, "a start message carries exactly the sample's socket"
            worker.start(payload, fds[0])
            continue
        message = json.loads(payload)
        if message["op"] == "finish":
            for extra in fds:
                os.close(extra)
            send_frame(control, json.dumps(worker.end(message["grace"])).encode())

if __name__ == "__main__":
    sys.exit(main(sys.argv))
