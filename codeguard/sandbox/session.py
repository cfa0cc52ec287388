"""The trusted side of one sample: waits for the program to load, forwards calls, and turns what happens into a
verdict.

A verdict can only come from here, never from the sample: `passed` needs the benchmark's own check() to return
normally while every value it saw was rebuilt from channel text. Whatever ends a sample early (timeout, death,
MemoryError, a value that cannot cross) is raised as SampleEnded, a BaseException, so test code written with
`except Exception` cannot swallow it, and it is also remembered, so even a swallowed one still decides.

Only two things reach the test from a call: the return value, or the candidate's exception. Anything else that goes
wrong while the checker reads a reply (a death it cannot name, a reply it cannot parse) ends the sample; it never
surfaces in the test as an ordinary exception, which test code expecting ValueError would catch. Every detail is
capped here, in the trusted process, whatever the sample sends.
"""
from __future__ import annotations

import builtins
import json
import signal
import socket
import time

from codeguard.sandbox import channel
from codeguard.sandbox.framing import FrameError, FrameReader, FrameTimeout, send_frame
from codeguard.sandbox.sample import STARTED

CANDIDATE_MARK = "_codeguard_raised_by_candidate"  # set on exceptions re-raised from the candidate
DEATH_GRACE = 0.5  # after EOF, how long a sample may take to finish exiting before the worker kills it
START_TIMEOUT = 10.0  # for the worker to finish the previous sample's cleanup and fork this one
# Beyond its time limit, how long the test code may still run on a sample's values before the checker process is
# stopped by SIGALRM (its default action ends the process; the executor then gives the sample `timeout`). Test code
# stuck in one C call (a set of colliding values) cannot be interrupted any other way.
CHECK_SLACK = 2.0
MAX_DETAIL = 2000  # characters of a verdict's detail (and of a candidate's exception message)
MAX_ARGUMENTS = 300  # characters of a call's arguments recorded in a detail
_MUTABLE_ARGUMENTS = frozenset((list, dict, set))  # arguments whose in-place changes are mirrored back


def clip(text: str, limit: int = MAX_DETAIL) -> str:
    """`text` cut to at most `limit` characters, saying how much was cut."""
    if len(text) <= limit:
        return text
    note = f"... ({len(text) - limit + 40} more characters)"
    return text[:limit - len(note)] + note


def signal_name(number: int) -> str:
    """SIGSEGV, SIGRTMIN+6, or 'signal 70': never raises (signal.Signals(40) raises ValueError)."""
    try:
        return signal.Signals(number).name
    except (ValueError, TypeError, OverflowError):
        pass
    if isinstance(number, int) and signal.SIGRTMIN <= number <= signal.SIGRTMAX:
        return f"SIGRTMIN+{number - signal.SIGRTMIN} (signal {number})"
    return f"signal {number!r:.20}"


class SampleEnded(BaseException):
    """The sample can answer no more; carries the verdict and its detail."""

    def __init__(self, verdict: str, detail: str):
        super().__init__(f"{verdict}: {detail}")
        self.verdict, self.detail = verdict, detail


def candidate_exception(type_name: str, message: str) -> Exception:
    """An exception for test code to see, of the candidate's builtin type where there is one (tests may catch it)."""
    type_name, message = clip(type_name, 200), clip(message)
    kind = getattr(builtins, type_name, None)
    error = None
    if isinstance(kind, type) and issubclass(kind, Exception):
        try:
            error = kind(message)
        except Exception:  # e.g. UnicodeDecodeError wants five arguments
            error = None
    if error is None:
        error = CandidateError(f"{type_name}: {message}")
    setattr(error, CANDIDATE_MARK, f"{type_name}: {message}")  # as the sample printed it, for the verdict
    return error


class CandidateError(Exception):
    """Stands for an exception type that has no builtin counterpart in the checker."""


def _sync_argument(original, updated) -> None:
    """Mirrors the candidate's in-place changes to a list/dict/set argument onto the test's object, as a shared
    object would show them (some tests reuse an argument after the call)."""
    if type(original) is not type(updated) or original == updated:
        return
    if type(original) is list:
        original[:] = updated
    elif type(original) in (dict, set):
        original.clear()
        original.update(updated)


class Session:
    def __init__(self, sock: socket.socket, timeout: float, finish_sample):
        self.sock, self.timeout = sock, timeout
        self.deadline = time.monotonic() + START_TIMEOUT  # until the worker says the sample started
        sock.settimeout(timeout)  # sends never block past the sample's budget; reads wait for the deadline itself
        self.reader = FrameReader(sock)
        self._finish_sample = finish_sample  # grace -> the worker's report on how the process ended
        self.report: dict | None = None
        self.ended: SampleEnded | None = None
        self.calls = 0
        self.last_arguments = b""

    def where(self) -> str:
        return f"call {self.calls} of the candidate" if self.calls else "the program's exec"

    def await_start(self) -> bool:
        """Waits for the worker's word that the sample is forked, and starts its clock; False if none came (the
        worker died or hung on the previous sample's cleanup, which is not this sample's fault)."""
        try:
            frame = self.reader.read(self.deadline)
        except (FrameTimeout, FrameError, OSError):
            frame = None
        if frame != STARTED:
            return False
        self.deadline = time.monotonic() + self.timeout
        signal.setitimer(signal.ITIMER_REAL, self.timeout + CHECK_SLACK)
        return True

    @staticmethod
    def stop_clock() -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)

    def finish(self, grace: float = 0.0) -> dict:
        """Ends the sample process (idempotent) and returns the worker's report."""
        if self.report is None:
            self.stop_clock()  # the wait for the worker has its own deadline (WORKER_FINISH_SLACK)
            self.report = self._finish_sample(grace)
        return self.report

    def end(self, verdict: str, detail: str):
        if self.ended is None:
            self.ended = SampleEnded(verdict, clip(detail))
        raise self.ended

    def _died(self):
        grace = min(DEATH_GRACE, max(0.0, self.deadline - time.monotonic()))
        report = self.finish(grace)
        where = self.where()
        if report.get("worker_died"):
            self.end("killed", f"the sandbox worker died during {where} (it has been restarted)")
        if report.get("error"):
            self.end("error", f"sandbox: {report['error']}")
        if report.get("oom"):
            self.end("memory", f"the sample's processes together exceeded the memory limit (cgroup OOM kill) "
                               f"during {where}")
        number = report.get("signal")
        if number == signal.SIGXCPU:
            self.end("timeout", f"CPU time limit exceeded (SIGXCPU) during {where}")
        if number is not None:
            self.end("killed", f"killed by {signal_name(number)} during {where}")
        if report.get("killed"):
            self.end("killed", f"closed its channel during {where} and was killed")
        self.end("killed", f"exited with status {report.get('exit')} during {where}")

    def _receive(self) -> tuple[bytes, bytes]:
        try:
            frame = self.reader.read(self.deadline)
        except FrameTimeout:
            self.end("timeout", f"exceeded the {self.timeout:g} s time limit during {self.where()}")
        except FrameError as error:
            self.end("invalid", f"{error} during {self.where()}")
        except OSError:
            frame = None
        if frame is None:
            self._died()
        if not frame:
            self.end("invalid", f"an empty reply during {self.where()}")
        return frame[:1], frame[1:]

    def _end_on(self, kind: bytes, body: bytes):
        where = self.where()
        if kind == b"M":
            self.end("memory", f"MemoryError (address-space limit) during {where}")
        if kind == b"X":
            self.end("killed", f"sys.exit({_json(body)}) during {where}")
        if kind == b"I":
            self.end("invalid", f"{body.decode('ascii', 'replace')[:500]} (returned by {where})")
        if kind == b"S":
            self.end("error", f"sandbox setup failed: {_describe(body)}")
        self.end("invalid", f"an unknown reply kind {kind!r} during {where}")

    def _guarded(self, step, *arguments):
        """Runs a step of reading the sample's reply; whatever it raises, other than the sample's end, becomes the
        sample's end too (never an exception in the test)."""
        try:
            return step(*arguments)
        except SampleEnded:
            raise
        except BaseException as error:
            self.end("invalid", f"the checker could not read the sample's reply during {self.where()} "
                                f"({type(error).__name__})")

    def await_ready(self) -> None:
        self._guarded(self._await_ready)

    def _await_ready(self) -> None:
        kind, body = self._receive()
        if kind == b"E":
            self.end("error", f"{_describe(body)} (the program failed to load)")
        if kind != b"K":
            self._end_on(kind, body)

    def call(self, args: tuple, kwargs: dict):
        if self.ended is not None:
            raise self.ended
        self.calls += 1
        want_args = not _MUTABLE_ARGUMENTS.isdisjoint(map(type, args))
        payload = channel.encode((args, kwargs, want_args))  # ChannelError: the test passed a non-builtin
        self.last_arguments = payload
        try:  # _guarded, inlined: this is every call's path
            outcome = self._exchange(payload, args, want_args)
        except SampleEnded:
            raise
        except BaseException as error:
            self.end("invalid", f"the checker could not read the sample's reply during {self.where()} "
                                f"({type(error).__name__})")
        if isinstance(outcome, _Raised):
            raise outcome.error
        return outcome

    def _exchange(self, payload: bytes, args: tuple, want_args: bool):
        """The call's result, or _Raised with the candidate's exception for the test to see."""
        try:
            send_frame(self.sock, payload)
        except OSError:
            self._died()
        kind, body = self._receive()
        if kind == b"R":
            try:
                result, args_after = channel.decode(body)
            except channel.ChannelError as error:
                self.end("invalid", f"{error} (returned by {self.where()})")
            if want_args and type(args_after) is list and len(args_after) == len(args):
                for original, updated in zip(args, args_after):
                    _sync_argument(original, updated)
            return result
        if kind == b"E":
            described = _json(body)
            if type(described) is not dict:
                self.end("invalid", f"a malformed error reply during {self.where()}")
            return _Raised(candidate_exception(str(described.get("type")), str(described.get("message"))))
        self._end_on(kind, body)

    def arguments_of_last_call(self) -> str:
        """The last call's arguments as they crossed the channel (its encoding), capped."""
        text = self.last_arguments.decode("utf-8", "replace") if self.last_arguments else ""
        return clip(text, MAX_ARGUMENTS)


class _Raised:
    """The candidate's exception, carried out of Session._guarded so that it reaches the test unchanged."""

    def __init__(self, error: Exception):
        self.error = error


class Proxy:
    """What check() receives as the candidate: a callable that forwards each call to the sample process."""

    def __init__(self, session: Session, name: str):
        self._session = session
        self.__name__ = name

    def __call__(self, *args, **kwargs):
        return self._session.call(args, kwargs)


def _json(body: bytes):
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def _describe(body: bytes) -> str:
    described = _json(body)
    if type(described) is not dict:
        return "an unreadable error report"
    text = f"{clip(str(described.get('type')), 200)}: {clip(str(described.get('message')))}"
    if type(described.get("where")) is int:
        text += f" (line {described['where']} of the program)"
    return text
