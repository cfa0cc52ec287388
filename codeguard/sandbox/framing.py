"""Length-prefixed frames over a stream socket, optionally carrying file descriptors.

Every process of the sandbox (executor, checker, worker, sample) speaks this one framing, so a frame's size is
bounded on read: a hostile sample that announces a 10 GiB frame is refused before anything is allocated.
Imports only the standard library, so the worker stays cheap to fork.
"""
from __future__ import annotations

import math
import os
import select
import socket
import struct
import time

HEADER = struct.Struct(">I")
MAX_FRAME = (16 << 20) + 4096  # a channel value's limit plus room for its envelope
READ_SIZE = 1 << 16


class FrameError(Exception):
    """The peer sent a frame larger than allowed, or the stream ended inside a frame."""


class FrameTimeout(Exception):
    """No complete frame arrived before the deadline."""


def send_frame(sock: socket.socket, payload: bytes, fds: tuple[int, ...] = ()) -> None:
    """Sends one frame; file descriptors ride with its first byte (SCM_RIGHTS)."""
    data = HEADER.pack(len(payload)) + payload
    if fds:
        sent = socket.send_fds(sock, [data], list(fds))
        data = data[sent:]
    sock.sendall(data)


def _remaining(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise FrameTimeout
    return left


def _recv_exact(sock: socket.socket, size: int, deadline: float | None, started: bool) -> bytes | None:
    chunks, got = [], 0
    while got < size:
        sock.settimeout(_remaining(deadline))
        try:
            chunk = sock.recv(min(size - got, 1 << 20))
        except socket.timeout:
            raise FrameTimeout from None
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            if got or started:
                raise FrameError("the stream ended inside a frame")
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv_frame(sock: socket.socket, deadline: float | None = None, max_size: int = MAX_FRAME) -> bytes | None:
    """Returns the next frame's payload, or None at a clean end of stream."""
    header = _recv_exact(sock, HEADER.size, deadline, started=False)
    if header is None:
        return None
    (size,) = HEADER.unpack(header)
    if size > max_size:
        raise FrameError(f"a frame of {size} bytes exceeds the limit of {max_size} bytes")
    return _recv_exact(sock, size, deadline, started=True)


def recv_frame_with_fds(sock: socket.socket, max_fds: int = 1) -> tuple[bytes | None, list[int]]:
    """Blocking read of one frame whose first bytes may carry file descriptors (the worker's control channel)."""
    sock.settimeout(None)
    first, fds, _flags, _addr = socket.recv_fds(sock, HEADER.size, max_fds)
    if not first:
        return None, fds
    if len(first) < HEADER.size:
        first += _recv_exact(sock, HEADER.size - len(first), None, started=True)
    (size,) = HEADER.unpack(first)
    if size > MAX_FRAME:
        raise FrameError(f"a frame of {size} bytes exceeds the limit of {MAX_FRAME} bytes")
    return _recv_exact(sock, size, None, started=True), fds


class FrameReader:
    """Reads one socket's frames through a buffer, for the hot path of a sample's calls: a single read usually
    brings a whole frame, where recv_frame costs a header read and a body read, each with its own timeout set-up
    (six system calls a frame instead of one or two).

    A socket with a timeout (non-blocking underneath) is waited on with poll until the deadline; a blocking one is
    simply read. Bytes past the current frame stay buffered for the next read."""

    def __init__(self, sock: socket.socket | int, max_size: int = MAX_FRAME):
        """`sock` is a socket, or the descriptor of a blocking one (a sample's: it builds no socket object)."""
        self.fd, self.max_size = (sock, max_size) if type(sock) is int else (sock.fileno(), max_size)
        self.buffer = bytearray()
        self.poller = None
        if type(sock) is not int and sock.gettimeout() is not None:
            self.poller = select.poll()
            self.poller.register(self.fd, select.POLLIN)

    def has_frame(self) -> bool:
        """Whether a whole frame is buffered already (select() will not report it)."""
        if len(self.buffer) < HEADER.size:
            return False
        (size,) = HEADER.unpack_from(self.buffer)
        return size > self.max_size or len(self.buffer) >= HEADER.size + size

    def read(self, deadline: float | None = None) -> bytes | None:
        """The next frame's payload, or None at a clean end of stream."""
        while True:
            if len(self.buffer) >= HEADER.size:
                (size,) = HEADER.unpack_from(self.buffer)
                if size > self.max_size:
                    raise FrameError(f"a frame of {size} bytes exceeds the limit of {self.max_size} bytes")
                end = HEADER.size + size
                if len(self.buffer) >= end:
                    frame = bytes(self.buffer[HEADER.size:end])
                    del self.buffer[:end]
                    return frame
            chunk = self._read_some(deadline)
            if not chunk:
                if self.buffer:
                    raise FrameError("the stream ended inside a frame")
                return None
            if not self.buffer and len(chunk) > HEADER.size:  # usually one read is one whole frame: no buffering
                (size,) = HEADER.unpack_from(chunk)
                if size <= self.max_size and len(chunk) == HEADER.size + size:
                    return chunk[HEADER.size:]
            self.buffer += chunk

    def _read_some(self, deadline: float | None) -> bytes:
        while True:
            if self.poller is not None:
                left = _remaining(deadline)
                if not self.poller.poll(None if left is None else math.ceil(left * 1000)):
                    continue  # woke early: _remaining raises FrameTimeout once the deadline has passed
            try:
                return os.read(self.fd, READ_SIZE)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                return b""
