"""The warm worker: started once (inside bubblewrap when available), it forks one confined process per sample.

Forking a warm interpreter costs about a millisecond where starting one costs tens. The worker is trusted: it never
runs sample code itself, only forks, waits, and cleans up. It is a child subreaper, so every process a sample
leaves behind (double forks, setsid) is re-parented to it and killed before the next sample starts.

Protocol on the control socket (JSON frames; see framing.py):
  {"op": "start", "program", "entry_point"} + the sample's socket as SCM_RIGHTS  -> no reply; first ends the
                                          previous sample if it still runs
  {"op": "finish", "grace": seconds}  -> {"exit": code | null, "signal": number | null, "killed": bool,
                                          "leftovers": count, "error": text | null}
A sample whose checker is done with it gets EOF on its socket and exits; the worker reaps and cleans up after it
at once, without a message, so the checker only sends "finish" when it needs to know how the sample ended.
Run as `python -m codeguard.sandbox.worker '<json config>'`.
"""
from __future__ import annotations

import ctypes
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
from codeguard.sandbox.framing import recv_frame_with_fds, send_frame

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
# Imported once here so that each forked sample has them for free (typing alone costs a sample ~1 ms to import).
# Only small ones: every module here makes every fork and exit dearer (a C extension maps 5 more regions, hashlib
# with libcrypto 16), so hashlib, fractions and statistics (one HumanEval solution imports hashlib) are left to the
# samples that use them. For the same reason the worker itself avoids tempfile and shutil (see _remove_tree).
PRELOADED_MODULES = ("typing", "math", "re", "collections", "itertools", "functools", "heapq", "bisect", "string")
# Programs up to this size are compiled here, before the fork: the compiler's allocations then land on the worker's
# own pages instead of costing the sample ~130 copy-on-write faults (a quarter of its faults on HumanEval). Larger
# programs, and any that fail to compile, are compiled by the sample itself, under its limits, so every error is the
# sample's own and a huge program cannot make the worker allocate much.
PRECOMPILE_MAX_CHARS = 64 * 1024


def _make_private_dir(parent: str) -> str:
    """A new directory only this worker knows, like tempfile.mkdtemp (a random name that mkdir must create)."""
    while True:
        path = os.path.join(parent, "codeguard-worker-" + os.urandom(8).hex())
        try:
            os.mkdir(path, 0o700)
            return path
        except FileExistsError:
            continue


def _remove_tree(path: str) -> None:
    """Removes a sample's directory. Most samples leave it empty, so a plain rmdir does; shutil is imported only
    for the first sample that leaves files behind."""
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass
    except OSError:
        import shutil
        shutil.rmtree(path, ignore_errors=True)


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


def _sweep_leftovers() -> int:
    """Kills and reaps every remaining descendant; returns how many were found alive."""
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


def precompile(program: str):
    """The program's code object, or None to let the sample compile it (too long, or it does not compile)."""
    if len(program) > PRECOMPILE_MAX_CHARS:
        return None
    try:
        return compile(program, sample.PROGRAM_NAME, "exec")
    except BaseException:  # SyntaxError, ValueError (NUL bytes), RecursionError, MemoryError: the sample's to report
        return None


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
        # One private directory per worker, made once; per-sample directories are numbered inside it.
        self.tmp_root = _make_private_dir(config["tmp_root"])
        os.chmod(self.tmp_root, 0o711)  # samples of another uid must traverse to their own directory, not list
        self.samples_started = 0
        self.running: Running | None = None
        self.report: dict | None = None  # how the last sample ended, once it is cleaned up
        self.next_workdir: str | None = None
        self.start_error: str | None = None
        self.code = None  # the last sample's code object: freed only once that sample is gone (see start)
        self._prepare_workdir()

    def _prepare_workdir(self) -> None:
        """Makes the next sample's fresh directory ahead of time, while no sample process exists."""
        self.samples_started += 1
        workdir = os.path.join(self.tmp_root, f"sample-{self.samples_started}")
        os.mkdir(workdir, 0o700)
        if self.uid is not None:
            os.chown(workdir, self.uid, self.uid)
        self.next_workdir = workdir

    def start(self, message: dict, sample_fd: int) -> None:
        self.end(0.0)  # the checker has moved on: the previous sample's verdict is decided
        self.report, self.start_error = None, None
        # Replaced (and the previous one freed) while no sample shares the worker's pages.
        self.code = precompile(message["program"])
        try:
            if self.next_workdir is None:
                self._prepare_workdir()
            workdir, self.next_workdir = self.next_workdir, None
            pid = os.fork()
        except OSError as error:
            self.start_error = f"could not start the sample process: {error}"
            os.close(sample_fd)
            return
        if pid == 0:
            sample.run(sample_fd, workdir, self.uid, self.limits, message["program"], message["entry_point"],
                       self.code)
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
        _remove_tree(running.workdir)
        try:
            self._prepare_workdir()
        except OSError:
            self.next_workdir = None  # start() tries again and reports the error
        code = os.waitstatus_to_exitcode(status)
        self.report = {"exit": code if code >= 0 else None, "signal": -code if code < 0 else None,
                       "killed": killed, "leftovers": leftovers, "error": None}
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
    gc.freeze()  # the collector then never touches the worker's objects in a sample, sparing copy-on-write faults
    worker = Worker(config)
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
            _remove_tree(worker.tmp_root)
            return 0
        message = json.loads(payload)
        if message["op"] == "start":
            assert len(fds) == 1, "a start message carries exactly the sample's socket"
            worker.start(message, fds[0])
        elif message["op"] == "finish":
            for extra in fds:
                os.close(extra)
            send_frame(control, json.dumps(worker.end(message["grace"])).encode())

if __name__ == "__main__":
    sys.exit(main(sys.argv))
