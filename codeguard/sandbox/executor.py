"""Runs untrusted completions against benchmark tests and returns verdicts that a completion cannot forge.

Three kinds of process, so that trust never depends on the untrusted one:

  executor (this process) ──► checker × workers ──► worker (in bubblewrap) ──fork──► sample
        dispatch, watchdog       trusted: runs the        warm interpreter;            prompt + completion,
                                 benchmark's check()      confines, reaps, reports     serves calls on a socket
                                 against a proxy  ◄──── channel: builtin values only ──────┘

The sample's exit status is never a verdict: `passed` means the benchmark's check() returned normally in the
checker while every value it saw was rebuilt from channel text. See sample.py, session.py and worker.py.
"""
from __future__ import annotations

import collections
import json
import math
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
import weakref
from dataclasses import dataclass
from typing import Iterable, Mapping, Protocol

from codeguard.errors import CodeguardError
from codeguard.sandbox.cgroup import delegated_root, remove
from codeguard.sandbox.framing import HEADER, FrameError, FrameReader, FrameTimeout, recv_frame, send_frame
from codeguard.sandbox.isolation import checker_environment, resolve, scratch_mount_problem, worker_environment
from codeguard.sandbox.session import CHECK_SLACK, MAX_DETAIL
from codeguard.sandbox.syscalls import build_filters


VERDICTS = ("passed", "failed", "error", "timeout", "memory", "killed", "invalid")

CHECKER_START_TIMEOUT = 120.0
PIPELINE_DEPTH = 2        # requests queued per checker, so it never waits on this process between samples
WATCHDOG_SLACK = 30.0     # beyond the sample timeout, before a silent checker is killed (worker restarts included)
MAX_WORKERS = 256
SYNC = json.dumps({"op": "sync"}).encode()


class Problem(Protocol):
    """What the executor needs of a benchmark problem (codeguard's HumanEval Problem is one)."""
    @property
    def task_id(self) -> str: ...
    @property
    def prompt(self) -> str: ...
    @property
    def entry_point(self) -> str: ...
    @property
    def test(self) -> str: ...


class SandboxWarning(UserWarning):
    """Untrusted code is about to run with weaker isolation than the sandbox is meant to give."""


class SandboxError(CodeguardError):
    """A sandbox that cannot be set up as asked, or samples the executor cannot run (an unknown task_id)."""


@dataclass(frozen=True)
class Verdict:
    task_id: str
    completion_id: int
    verdict: str        # one of VERDICTS
    detail: str         # assertion text, exception type and message, signal name, ...

    @property
    def passed(self) -> bool:
        return self.verdict == "passed"


@dataclass(frozen=True)
class SandboxConfig:
    """Limits per sample. cpu_seconds bounds CPU time across the sample's threads; timeout bounds wall time."""
    timeout: float = 3.0          # wall-clock seconds per sample, program load and all calls together
    memory_mb: int = 1024         # RLIMIT_AS of the sample process
    cpu_seconds: int = 10         # RLIMIT_CPU
    max_processes: int = 32       # RLIMIT_NPROC: processes and threads of the sample's uid, itself included
    max_file_mb: int = 16         # RLIMIT_FSIZE; private /tmp and /dev/shm hold 4x this (at least 64 MiB)
    max_open_files: int = 64      # RLIMIT_NOFILE
    workers: int = 0              # 0 = default_workers(pin_cpus): one per usable CPU when pinned
    isolation: str = "auto"       # "auto": bwrap if usable, else warn and run without; "bwrap": error if unusable
    pin_cpus: bool = True         # keep each checker, its worker and their samples on one CPU (see cpu_for)

    def __post_init__(self):
        if isinstance(self.timeout, bool) or not isinstance(self.timeout, (int, float)) \
                or not math.isfinite(self.timeout) or self.timeout <= 0:
            raise SandboxError(f"SandboxConfig.timeout must be a positive number of seconds, got {self.timeout!r}")
        minimums = {"memory_mb": 128, "cpu_seconds": 1, "max_processes": 1, "max_file_mb": 1,
                    "max_open_files": 16, "workers": 0}
        for name, minimum in minimums.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise SandboxError(f"SandboxConfig.{name} must be an integer >= {minimum}, got {value!r}")
        if self.workers > MAX_WORKERS:
            raise SandboxError(f"SandboxConfig.workers must be at most {MAX_WORKERS}, got {self.workers}")
        if not isinstance(self.pin_cpus, bool):
            raise SandboxError(f"SandboxConfig.pin_cpus must be True or False, got {self.pin_cpus!r}")
        if self.isolation not in ("auto", "bwrap", "none"):
            raise SandboxError(f"SandboxConfig.isolation must be 'auto', 'bwrap' or 'none', got {self.isolation!r}")

    @property
    def tmp_mb(self) -> int:
        return max(64, 4 * self.max_file_mb)

    def sample_limits(self) -> dict:
        return {"memory_mb": self.memory_mb, "cpu_seconds": self.cpu_seconds, "max_processes": self.max_processes,
                "max_file_mb": self.max_file_mb, "max_open_files": self.max_open_files}


def default_workers(pin_cpus: bool) -> int:
    """One worker per usable CPU when pinned, else twice the CPUs (at least 2).

    A worker's samples go executor -> checker -> worker -> sample and back, one step at a time. Pinned, one such
    chain keeps its CPU busy by itself and a second one on the same CPU only adds switches between them: on 2 CPUs
    the HumanEval bench ran 630-640 samples/s with 2 pinned workers, 610 with 3, 596 with 4 (bench/RESULTS.md).
    Unpinned, the scheduler needs spare chains to fill the gaps. The price of one chain per CPU: a sample that
    blocks without computing (a sleep, a deadlock) leaves its CPU idle until its timeout."""
    usable = len(os.sched_getaffinity(0))
    if pin_cpus and usable >= 2:
        return usable
    return max(2, 2 * usable)


def cpu_for(index: int, pin: bool) -> int | None:
    """The CPU checker `index` (with its worker and samples) is pinned to, or None to let the scheduler choose.

    A sample's calls ping-pong synchronously between its checker and its process; on separate CPUs every step is a
    cross-CPU wake-up (an inter-processor interrupt, costly in a VM). Pinned, the 1,640-sample HumanEval bench spent
    11 % less CPU per sample on 2 cores (bench/RESULTS.md). Chains are spread round-robin over the CPUs this process
    may use (its affinity mask, which respects cgroup cpusets and taskset)."""
    allowed = sorted(os.sched_getaffinity(0))
    if not pin or len(allowed) < 2:
        return None
    return allowed[index % len(allowed)]


class _CheckerProcess:
    """The executor's handle on one checker process and the requests it has been sent."""

    def __init__(self, checker_config: dict):
        ours, theirs = socket.socketpair()
        self.stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "codeguard.sandbox.checker", str(theirs.fileno())],
            pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=self.stderr, env=checker_environment())
        theirs.close()
        self.sock = ours
        self.in_flight: collections.deque[int] = collections.deque()
        self.busy_since = 0.0
        self.outbox = bytearray()  # request bytes not yet taken by the socket: the executor never blocks writing
        send_frame(ours, json.dumps(checker_config).encode())
        ours.setblocking(False)

    def queue(self, payload: bytes) -> None:
        self.outbox += HEADER.pack(len(payload)) + payload
        self.flush()

    def flush(self) -> None:
        """Writes what the socket takes now; a checker busy with a slow sample leaves the rest queued."""
        try:
            while self.outbox:
                sent = self.sock.send(self.outbox)
                del self.outbox[:sent]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:  # it died: reading shows EOF and it is restarted
            self.outbox.clear()

    def death_cause(self) -> tuple[str, str]:
        """The verdict for the sample a checker was on when it died."""
        try:
            status = self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            status = None
        if status == -signal.SIGALRM:
            return "timeout", (f"the test's checks of this sample's values ran more than {CHECK_SLACK:g} s past its "
                               "time limit (the checker was stopped)")
        return "killed", f"the checker process died: {self.stderr_tail()}"

    def await_hello(self) -> None:
        try:
            hello = recv_frame(self.sock, time.monotonic() + CHECKER_START_TIMEOUT)
        except (FrameTimeout, FrameError, OSError):
            hello = None
        message = json.loads(hello) if hello else {"error": f"the checker exited: {self.stderr_tail()}"}
        if "error" in message:
            self.close()
            raise SandboxError(f"the sandbox could not start: {message['error']}")
        self.sock.setblocking(False)  # from here on: queue() and flush() write, the reader polls with deadlines
        self.reader = FrameReader(self.sock)

    def stderr_tail(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace").strip()[-2000:] or "no message"

    def close(self) -> None:
        if self.process is None:
            return
        self.sock.close()  # EOF: the checker finishes, closes its worker and exits
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.stderr.close()
        self.process = None

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
        self.close()


def _close_all(checkers: list[_CheckerProcess], cgroup_root) -> None:
    for checker in checkers:
        checker.close()
    if cgroup_root is not None:
        remove(cgroup_root)


class Executor:
    """A pool of warm, sandboxed workers, each with its trusted checker; reuse one for many samples.

    Not thread-safe: call run() from one thread at a time.
    """

    def __init__(self, config: SandboxConfig = SandboxConfig()):
        if not isinstance(config, SandboxConfig):
            raise SandboxError(f"Executor expects a SandboxConfig, got {type(config).__name__}")
        self.config = config
        chosen, problem = resolve(config.isolation, config.tmp_mb)
        if config.isolation == "bwrap" and problem is not None:
            raise SandboxError(f"isolation='bwrap' but bubblewrap is unusable: {problem}. Install bubblewrap "
                               "(apt-get install bubblewrap) or pass isolation='auto' to run with a warning")
        self.isolation = chosen.description
        if chosen.mode == "none":
            privileges = ("; samples run AS ROOT: a hostile one can kill any process and write any file on this "
                          "machine" if os.geteuid() == 0 and not chosen.drops_privileges else "")
            warnings.warn(SandboxWarning(
                f"untrusted code will run WITHOUT network or filesystem isolation: {chosen.description}"
                f"{privileges}. Install bubblewrap (apt-get install bubblewrap) to sandbox it."), stacklevel=2)
        # Where no cgroup bounds a sample's memory as a whole, a sample may not create processes: its address-space
        # limit is then the limit of the whole sample (see syscalls.py, cgroup.py).
        self._cgroup_root, cgroup_problem = delegated_root()
        allow_processes = self._cgroup_root is not None
        seccomp, seccomp_problem = build_filters(allow_processes)
        mount_problem = scratch_mount_problem()  # as root, workers mount a fresh tmpfs per sample
        mount_scratch = mount_problem is None
        weaker = [seccomp_problem] if seccomp_problem else []
        if cgroup_problem:
            weaker.append(f"no cgroup v2 for samples ({cgroup_problem}): samples may not fork, so that the "
                          "address-space limit bounds each one as a whole")
        if not mount_scratch:
            weaker.append(f"scratch space is a directory per sample on a tmpfs its worker's samples share "
                          f"({mount_problem}; as root each sample gets a tmpfs of its own)")
        in_force = []
        if mount_scratch:
            in_force.append(f"a fresh /tmp and /dev/shm per sample ({config.tmp_mb} MiB tmpfs each)")
        if seccomp:
            in_force.append("seccomp: " + ("" if allow_processes else "no process creation, ") +
                            "no namespaces, mounts or System V IPC, sockets AF_INET/AF_INET6 only")
        in_force.append("memory: a cgroup v2 per sample (memory.max and pids.max over all its processes)"
                        if allow_processes else "memory: address-space limit per sample (no cgroup v2; samples may "
                                                "not fork)")
        self.isolation = "; ".join([self.isolation, *in_force, *(f"WEAKER: {text}" for text in weaker)])
        if weaker:
            warnings.warn(SandboxWarning("the sandbox isolates less than it should here: " + "; ".join(weaker)),
                          stacklevel=2)
        self._checker_config = {"timeout": config.timeout, "limits": config.sample_limits(),
                                "command_prefix": list(chosen.command_prefix), "tmp_root": chosen.tmp_root,
                                "drops_privileges": chosen.drops_privileges, "env": worker_environment(),
                                "scratch_mb": config.tmp_mb, "mount_scratch": mount_scratch,
                                "seccomp": [program.hex() for program in seccomp] if seccomp else None,
                                "cgroup_root": str(self._cgroup_root) if self._cgroup_root else None}
        self.workers = min(MAX_WORKERS, config.workers or default_workers(config.pin_cpus))
        self._checkers: list[_CheckerProcess] = []
        self._finalizer = weakref.finalize(self, _close_all, self._checkers, self._cgroup_root)
        try:
            for index in range(self.workers):
                self._checkers.append(_CheckerProcess(self._config_for(index)))
            for checker in self._checkers:
                checker.await_hello()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self._finalizer()

    def _config_for(self, index: int) -> dict:
        return {**self._checker_config, "cpu": cpu_for(index, self.config.pin_cpus)}

    def _restart(self, index: int) -> None:
        self._checkers[index].kill()
        self._checkers[index] = _CheckerProcess(self._config_for(index))
        self._checkers[index].await_hello()

    def run(self, problems: Mapping[str, Problem], samples: Iterable[tuple[str, int, str]]) -> list[Verdict]:
        """samples are (task_id, completion_id, completion); returns verdicts in input order."""
        if not self._finalizer.alive:
            raise SandboxError("this Executor is closed; create a new one")
        samples = list(samples)
        requests = []
        for position, item in enumerate(samples):
            if not isinstance(item, tuple) or len(item) != 3:
                raise SandboxError(f"sample {position} must be a (task_id, completion_id, completion) tuple, "
                                   f"got {item!r:.80}")
            task_id, _completion_id, completion = item
            if task_id not in problems:
                raise SandboxError(f"sample {position} names task_id {task_id!r}, which is not among the "
                                   f"{len(problems)} problems given")
            if not isinstance(completion, str):
                raise SandboxError(f"sample {position} ({task_id!r}): the completion must be a str, "
                                   f"got {type(completion).__name__}")
            problem = problems[task_id]
            requests.append(json.dumps({"task_id": task_id, "prompt": problem.prompt, "test": problem.test,
                                        "entry_point": problem.entry_point, "completion": completion}).encode())
        answers = self._dispatch(requests)
        if requests:
            self._sync()
        return [Verdict(task_id, completion_id, verdict, detail)
                for (task_id, completion_id, _), (verdict, detail) in zip(samples, answers)]

    def _dispatch(self, requests: list[bytes]) -> list[tuple[str, str]]:
        answers: list[tuple[str, str] | None] = [None] * len(requests)
        pending = collections.deque(range(len(requests)))
        budget = self.config.timeout + WATCHDOG_SLACK
        for position, checker in enumerate(self._checkers):
            if checker.process.poll() is not None:  # killed from outside since the last run
                self._restart(position)
        while pending or any(c.in_flight for c in self._checkers):
            for checker in self._checkers:
                while pending and len(checker.in_flight) < PIPELINE_DEPTH:
                    index = pending.popleft()
                    if not checker.in_flight:
                        checker.busy_since = time.monotonic()
                    checker.in_flight.append(index)
                    checker.queue(requests[index])
            busy = [c for c in self._checkers if c.in_flight]
            wait = max(0.0, min(c.busy_since + budget for c in busy) - time.monotonic())
            readable, _, _ = select.select([c.sock for c in busy], [c.sock for c in busy if c.outbox], [], wait)
            now = time.monotonic()
            for checker in list(self._checkers):
                if not checker.in_flight:
                    continue
                checker.flush()
                if checker.sock in readable:
                    try:
                        answer = checker.reader.read(now + 10)
                    except (FrameTimeout, FrameError, OSError):
                        answer = None
                    if answer is not None:
                        message = json.loads(answer)
                        answers[checker.in_flight.popleft()] = (message["verdict"], message["detail"][:MAX_DETAIL])
                        checker.busy_since = now
                        while checker.in_flight and checker.reader.has_frame():  # answers read in one go
                            message = json.loads(checker.reader.read(now + 10))
                            answers[checker.in_flight.popleft()] = (message["verdict"], message["detail"][:MAX_DETAIL])
                        continue
                    verdict = checker.death_cause()
                elif now - checker.busy_since > budget:
                    verdict = ("timeout", f"the checker did not answer within {budget:g} s (trusted test code "
                                          "hung); it has been restarted")
                else:
                    continue
                answers[checker.in_flight.popleft()] = verdict
                pending.extendleft(reversed(checker.in_flight))
                checker.in_flight.clear()
                self._restart(self._checkers.index(checker))
        return answers  # type: ignore[return-value]

    def _sync(self) -> None:
        """Returns once every sample process of the run, and everything they started, is gone.

        Checkers answer before their worker has cleaned up after a sample (it does so in parallel with the next
        one's start), so the last sample of each worker may still be exiting when the last verdict arrives.
        """
        deadline = time.monotonic() + WATCHDOG_SLACK
        for checker in self._checkers:
            checker.queue(SYNC)  # if it died, the read below fails and it is restarted
        for position, checker in enumerate(self._checkers):
            try:
                while checker.outbox:
                    select.select([], [checker.sock], [], max(0.0, deadline - time.monotonic()))
                    checker.flush()
                    if time.monotonic() > deadline:
                        raise FrameTimeout
                reply = checker.reader.read(deadline)
            except (FrameTimeout, FrameError, OSError):
                reply = None
            if reply is None:  # killing the checker takes its worker's pid namespace with it
                self._restart(position)


def execute(problems: Mapping[str, Problem], samples: Iterable[tuple[str, int, str]],
            config: SandboxConfig = SandboxConfig()) -> list[Verdict]:
    """Runs samples once with a fresh Executor (convenience; reuse an Executor for many calls)."""
    with Executor(config) as executor:
        return executor.run(problems, samples)
