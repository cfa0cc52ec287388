"""The sample speaks the channel itself: it writes a frame that announces 4 GiB, or a forged `passed`-looking
reply, straight to its socket. The checker bounds what it reads and believes only decodable builtin values."""
from tests.hostile.conftest import run_one


def test_oversized_frame_is_invalid(executor):
    completion = """    import os, socket, struct
    for fd in range(3, 64):
        try:
            sock = socket.socket(fileno=os.dup(fd))
            sock.sendall(struct.pack(">I", 0xFFFFFFF0) + b"R")
        except OSError:
            pass
    import time
    time.sleep(5)
"""
    verdict = run_one(executor, completion)
    assert verdict.verdict == "invalid", verdict
    assert "exceeds the limit" in verdict.detail


def test_forged_result_frames_do_not_pass(executor):
    completion = """    import os, socket, struct
    forged = b'R{"t":[2,null]}'
    for fd in range(3, 64):
        try:
            sock = socket.socket(fileno=os.dup(fd))
            for _ in range(10):
                sock.sendall(struct.pack(">I", len(forged)) + forged)
        except OSError:
            pass
    return None
"""
    verdict = run_one(executor, completion)
    assert verdict.verdict != "passed", verdict
