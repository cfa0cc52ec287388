"""A candidate returns two lone surrogates, '\\ud83d\\ude00'. Written as JSON escapes they read back as the one
character they encode (U+1F600), so a wrong answer equalled the expected emoji and a right len() failed. Strings
must cross exactly: the checker sees the two code points the candidate returned."""
from codeguard.humaneval.problems import Problem

from tests.hostile.conftest import run_one

EMOJI = Problem(
    task_id="hostile/emoji",
    prompt="def emoji(name):\n",
    entry_point="emoji",
    test="def check(candidate):\n    assert candidate('grin') == '\\U0001F600'\n",
)
PAIR = Problem(
    task_id="hostile/pair",
    prompt="def pair(x):\n",
    entry_point="pair",
    test="def check(candidate):\n    value = candidate(0)\n    assert len(value) == 2 and value == '\\ud83d\\ude00'\n",
)


def test_lone_surrogates_do_not_forge_the_character_they_encode(executor):
    verdict = run_one(executor, "    return '\\ud83d' + '\\ude00'\n", EMOJI)
    assert verdict.verdict == "failed", verdict


def test_the_real_character_still_passes(executor):
    assert run_one(executor, "    return '\\U0001F600'\n", EMOJI).verdict == "passed"


def test_lone_surrogates_arrive_as_they_were_returned(executor):
    verdict = run_one(executor, "    return '\\ud83d' + '\\ude00'\n", PAIR)
    assert verdict.verdict == "passed", verdict


def test_a_forged_frame_with_surrogate_escapes_is_invalid(executor):
    """The sample writes the escapes itself, past the encoder: the checker must refuse them, not join them."""
    completion = """    import os, socket, struct, sys
    forged = b'R[' + b'"\\\\ud83d\\\\ude00"' + b',null]'
    sock = [socket.socket(fileno=fd) for fd in range(3, 64) if _is_socket(fd)][0]
    sock.sendall(struct.pack(">I", len(forged)) + forged)
    import time
    time.sleep(5)
def _is_socket(fd):
    import os, stat
    try:
        return stat.S_ISSOCK(os.fstat(fd).st_mode)
    except OSError:
        return False
"""
    verdict = run_one(executor, completion, EMOJI)
    assert verdict.verdict == "invalid", verdict
    assert "surrogate" in verdict.detail
