"""Length-prefixed frames: what the sandbox's processes speak. The buffered reader of a sample's calls must give
exactly the frames sent, however the bytes arrive, and bound what a hostile peer can make it wait for or hold."""
import socket
import struct
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codeguard.sandbox import sample
from codeguard.sandbox.framing import FrameError, FrameReader, FrameTimeout, recv_frame, send_frame


@pytest.fixture
def pair():
    ours, theirs = socket.socketpair()
    yield ours, theirs
    ours.close()
    theirs.close()


@settings(max_examples=40, deadline=None)
@given(payloads=st.lists(st.binary(max_size=3000), max_size=8), cut=st.integers(1, 97), timed=st.booleans(),
       by_descriptor=st.booleans())
def test_the_reader_returns_exactly_the_frames_sent_however_the_bytes_arrive(payloads, cut, timed, by_descriptor):
    """Frames split over many writes, or several frames in one write, come out whole and in order (read through a
    socket, or through a blocking socket's descriptor as a sample reads)."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        if timed:
            ours.settimeout(5)
        stream = b"".join(struct.pack(">I", len(p)) + p for p in payloads)

        def write():
            for start in range(0, len(stream), cut):
                theirs.sendall(stream[start:start + cut])
            theirs.shutdown(socket.SHUT_WR)
        writer = threading.Thread(target=write)
        writer.start()
        reader = FrameReader(ours.fileno() if by_descriptor and not timed else ours)
        received = []
        while (frame := reader.read(time.monotonic() + 5 if timed else None)) is not None:
            received.append(frame)
        writer.join()
    assert received == payloads


def test_the_reader_and_recv_frame_read_what_send_frame_writes(pair):
    ours, theirs = pair
    for payload in (b"", b"K", b"R" + b"x" * 200_000):
        send_frame(theirs, payload)
        assert FrameReader(ours).read() == payload
        send_frame(theirs, payload)
        assert recv_frame(ours) == payload


def test_an_oversized_frame_is_refused_before_it_is_read(pair):
    ours, theirs = pair
    theirs.sendall(struct.pack(">I", 0xFFFFFFF0) + b"R")
    with pytest.raises(FrameError, match="exceeds the limit"):
        FrameReader(ours).read()


@pytest.mark.parametrize("sent", [b"", b"K", b"R" + b"x" * 100, b"R" + b"x" * 200_000])
def test_one_read_of_one_whole_frame_and_one_frame_in_pieces_read_alike(pair, sent):
    ours, theirs = pair
    reader = FrameReader(ours)
    for _ in range(2):
        send_frame(theirs, sent)  # usually one read brings it whole: the reader returns it without buffering
        assert reader.read() == sent and not reader.has_frame()
    small = sent[:1000]
    send_frame(theirs, small + b"1")
    send_frame(theirs, small + b"2")  # two frames in the buffer: the second waits there
    assert reader.read() == small + b"1" and reader.has_frame() and reader.read() == small + b"2"


def test_an_oversized_frame_in_one_read_is_refused(pair):
    ours, theirs = pair
    send_frame(theirs, b"12345")
    with pytest.raises(FrameError, match="exceeds the limit"):
        FrameReader(ours, max_size=4).read()


def test_the_samples_send_writes_what_send_frame_writes(pair):
    ours, theirs = pair
    for payload in (b"K", b"R" + bytes(range(256)) * 4000):  # 1 MB: more than the socket buffer holds
        received = []
        reader = threading.Thread(target=lambda: received.append(recv_frame(ours)))
        reader.start()
        sample._send(theirs.fileno(), payload)
        reader.join()
        assert received == [payload]


def test_a_stream_that_ends_inside_a_frame_is_an_error(pair):
    ours, theirs = pair
    theirs.sendall(struct.pack(">I", 10) + b"abc")
    theirs.close()
    with pytest.raises(FrameError, match="ended inside a frame"):
        FrameReader(ours).read()


def test_a_silent_peer_times_out_at_the_deadline(pair):
    ours, theirs = pair
    ours.settimeout(5)
    theirs.sendall(struct.pack(">I", 10) + b"abc")  # a frame begun and never finished
    started = time.monotonic()
    with pytest.raises(FrameTimeout):
        FrameReader(ours).read(started + 0.2)
    assert 0.2 <= time.monotonic() - started < 1.5
