"""What runs inside a sample process: confine itself, exec the untrusted program, then serve calls until EOF.

Everything after `exec` is untrusted: the program may rewrite this module, the socket, anything in the process.
That is fine because nothing here decides a verdict. The checker only believes values that decode through the
channel, and the process's exit status is read by the worker from outside.

Replies (one byte of kind, then a body):
  K  ready: the program ran and defines the entry point      R  a call returned: channel-encoded (result, args)
  E  an exception: JSON {type, message, where}               M  MemoryError (the address-space limit)
  X  SystemExit: JSON exit code                              I  a value that cannot cross the channel
  S  the confinement itself failed (a harness problem, not the sample's): JSON {type, message, where}
"""
from __future__ import annotations

import _signal
import ctypes
import json
import os
import signal
import socket

from codeguard.sandbox import channel
from codeguard.sandbox.framing import HEADER, FrameError, FrameReader, send_frame
from codeguard.sandbox.limits import apply_rlimits, drop_privileges, join_sample_cgroup

PROGRAM_NAME = "<sample>"
PR_SET_PDEATHSIG, PR_GET_DUMPABLE = 1, 3
PR_SET_SECCOMP, SECCOMP_MODE_FILTER, PR_SET_NO_NEW_PRIVS = 22, 2, 38
# Resolved once in the worker and inherited by every fork: looking a function up through ctypes, or going through
# signal.signal's enum conversions, touches hundreds of the worker's pages, and each first write to one of them
# costs a sample a copy-on-write fault.
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl
_PRCTL.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)
_PRCTL.restype = ctypes.c_int
_DEFAULT_SIGNALS = tuple(int(number) for number in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGPIPE))
MAX_MESSAGE = 2000
STARTED = b"G"  # written by the worker on the sample's socket just before the fork: the sample's clock starts


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


class SeccompProgram:
    """A BPF program (syscalls.build_filter's bytes) laid out once in the worker, loaded by each sample."""

    def __init__(self, program: bytes):
        count = len(program) // ctypes.sizeof(_SockFilter)
        self.instructions = (_SockFilter * count).from_buffer_copy(program)
        self.fprog = _SockFprog(count, ctypes.cast(self.instructions, ctypes.POINTER(_SockFilter)))
        self.address = ctypes.addressof(self.fprog)

    def load(self) -> None:
        if _PRCTL(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or \
                _PRCTL(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, self.address, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "loading the seccomp filter failed")


def _describe(error: BaseException) -> bytes:
    try:
        message = str(error)[:MAX_MESSAGE]
    except BaseException:  # a hostile __str__ must not break the reply
        message = "<unprintable>"
    where = None
    if isinstance(error, SyntaxError) and error.filename == PROGRAM_NAME:
        where = error.lineno
    trace = error.__traceback__
    while trace is not None:
        if trace.tb_frame.f_code.co_filename == PROGRAM_NAME:
            where = trace.tb_lineno
        trace = trace.tb_next
    return json.dumps({"type": type(error).__name__[:200], "message": message, "where": where}).encode()


def _failure(error: BaseException) -> bytes:
    if isinstance(error, MemoryError):
        return b"M" + _describe(error)
    if isinstance(error, SystemExit):
        code = error.code if type(error.code) is int else (0 if error.code is None else 1)
        return b"X" + json.dumps(code).encode()
    return b"E" + _describe(error)


class CompileError(Exception):
    """The program could not be compiled within the sample's limits (a load error, not the `memory` verdict)."""


def _compile(program: str):
    try:
        return compile(program, PROGRAM_NAME, "exec")
    except MemoryError:
        # CPython's parser reports a too-deep nesting (e.g. 60,000 unary minus signs) as a bare MemoryError.
        raise CompileError("MemoryError while compiling: the program is nested too deeply for Python's parser, "
                           "or too large to compile within the memory limit") from None


def _confine(sock_fd: int, workdir: str, uid: int | None, limits: dict, seccomp: SeccompProgram | None,
             cgroup: str | None, inherited_tmpdir: str | None = None) -> None:
    os.setsid()  # own session and process group: the worker kills the group at the end
    # Without bubblewrap's pid namespace nothing else ends a sample whose worker was killed.
    _PRCTL(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    for number in _DEFAULT_SIGNALS:
        _signal.signal(number, _signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):  # a stdout flood goes nowhere instead of into the harness's memory
        os.dup2(devnull, target)
    # The worker's control socket must not be reachable: the sample could forge the worker's reports with it.
    os.closerange(3, sock_fd)
    os.closerange(sock_fd + 1, 1 << 16)
    if cgroup is not None:  # while still privileged: the sample's processes are bounded together from here on
        join_sample_cgroup(cgroup)
    os.chdir(workdir)
    if workdir != inherited_tmpdir:  # a scratch mount is TMPDIR already; setting it cost ~18 copy-on-write faults
        os.environ["TMPDIR"] = workdir
    if uid is not None:
        drop_privileges(uid)
    apply_rlimits(**limits)
    if seccomp is not None:
        seccomp.load()  # last: everything above needed calls the filter refuses


def _send(fd: int, payload: bytes) -> None:
    """send_frame on the sample's (blocking) socket by its descriptor: a sample builds no socket object, nor a copy
    of the payload behind its header."""
    header = HEADER.pack(len(payload))
    sent = os.writev(fd, (header, payload))
    if sent < len(header) + len(payload):  # cut short (a signal): the rest, as sendall would
        rest = memoryview(header + payload)[sent:]
        while rest:
            rest = rest[os.write(fd, rest):]


def _serve(fd: int, candidate) -> None:
    reader = FrameReader(fd)
    while True:
        try:
            frame = reader.read()
        except (FrameError, OSError):
            return
        if frame is None:
            return
        try:
            args, kwargs, want_args = channel.decode(frame)
            result = candidate(*args, **kwargs)
        except BaseException as error:
            reply = _failure(error)
        else:
            try:
                reply = b"R" + channel.encode((result, list(args) if want_args else None))
            except channel.ChannelError as error:
                reply = b"I" + str(error).encode()
            except MemoryError as error:
                reply = b"M" + _describe(error)
            except BaseException as error:  # e.g. an int too long to convert to text
                reply = b"I" + f"the return value cannot be encoded: {type(error).__name__}".encode()
        _send(fd, reply)
        if reply[:1] == b"X":
            return


def run(sock_fd: int, workdir: str, uid: int | None, limits: dict, program: bytes, entry_point: bytes,
        seccomp: SeccompProgram | None, cgroup: str | None = None, inherited_tmpdir: str | None = None) -> None:
    """Never returns: leaves through os._exit, so nothing of the worker (atexit, buffers) runs in the child.
    The sample's TMPDIR is its workdir; inherited_tmpdir is the value the worker's environment gives it already.
    The program is compiled here, under the sample's limits and on its clock: compiling a hostile text can take
    gigabytes and seconds (a few KB of nested try/finally did)."""
    status = 0
    try:
        try:
            _confine(sock_fd, workdir, uid, limits, seccomp, cgroup, inherited_tmpdir)
        except BaseException as error:
            _send(sock_fd, b"S" + _describe(error))
            os._exit(1)
        # Decoded here, on the sample's clock and under its limits (UTF-8 with surrogatepass: see worker.start_message)
        _load_and_serve(sock_fd, program.decode("utf-8", "surrogatepass"), entry_point.decode("utf-8", "surrogatepass"))
    except BaseException:
        status = 1
    os._exit(status)


def _load_and_serve(fd: int, program: str, entry_point: str) -> None:
    namespace: dict = {}
    try:
        code = _compile(program)
        del program
        exec(code, namespace)  # noqa: S102 - the point of the sandbox
        candidate = namespace.get(entry_point)
        if candidate is None:
            raise NameError(f"the program does not define the entry point {entry_point!r}")
        if not callable(candidate):
            raise TypeError(f"the entry point {entry_point!r} is a {type(candidate).__name__}, not callable")
    except BaseException as error:
        _send(fd, _failure(error))
    else:
        _send(fd, b"K")
        _serve(fd, candidate)


# What warm_up feeds the serving code: a value of each type the channel carries, and a program shaped like a
# benchmark's (typing imports, a helper, the entry point).
_WARM_UP_PROGRAM = ("from typing import List, Tuple\n\n\ndef _helper(value):\n    return value\n\n\n"
                    "def echo(*args, **kwargs):\n    if kwargs:\n        raise ValueError(f'unexpected {kwargs}')\n"
                    "    return _helper(args[0])\n")
_WARM_UP_VALUES = (0, -7, 10 ** 30, 2.5, float("nan"), True, None, "text", "t\u00e9xt", "", [1, 2, 3], ["a", "b"],
                   [[1, 2], [3]], [], (1, "a"), {"k": [1]}, {1, 2}, frozenset({3}), b"bytes", 1 + 2j)
WARM_UP_ROUNDS = 64  # CPython 3.11 specializes an instruction after about 50 runs of it


def warm_up(rounds: int = WARM_UP_ROUNDS) -> None:
    """Runs a sample's own code after confinement (loading a program, serving calls, encoding replies and errors) in
    the worker, on its own values, before any sample is forked.

    A sample is a fork of the worker: every page it writes is copied first (a copy-on-write fault, ~2.5 us here, and
    ~340 of them a sample). Code the worker has never run is written to by the sample that runs it first (3.11
    counts warm-up runs in the code object and rewrites its instructions as it specializes them), and each
    attribute lookup the worker never made writes the type-attribute cache. Run here, that code is specialized and
    those lookups cached once, in pages that samples then only read. Only codeguard's code runs: no sample's."""
    calls = [channel.encode(((value,), {}, type(value) in (list, dict, set))) for value in _WARM_UP_VALUES]
    calls.append(channel.encode(((1,), {"extra": 1}, False)))  # the candidate raises: an error reply
    for _ in range(rounds):
        _PRCTL(PR_GET_DUMPABLE, 0, 0, 0, 0)  # the ctypes path _confine and SeccompProgram.load take (reads only)
        ours, theirs = socket.socketpair()
        try:
            for payload in calls:
                send_frame(ours, payload)
            ours.shutdown(socket.SHUT_WR)
            _load_and_serve(theirs.fileno(), _WARM_UP_PROGRAM, "echo")
        finally:
            ours.close()
            theirs.close()
