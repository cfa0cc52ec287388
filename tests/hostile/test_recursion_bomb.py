"""Unbounded recursion: with Python's limit it is an error; with the limit lifted it overflows the C stack and the
sample dies of SIGSEGV, which must not take anything else with it."""
from tests.hostile.conftest import run_one


def test_plain_recursion_is_an_error(executor):
    verdict = run_one(executor, "    return add_one(x)\n")
    assert verdict.verdict == "error", verdict
    assert "RecursionError" in verdict.detail


def test_recursion_past_the_c_stack_is_killed(executor):
    # Python-to-Python calls no longer use the C stack (3.11); recursing through map() does.
    completion = """    import sys
    sys.setrecursionlimit(10 ** 8)
    def deeper(n):
        return list(map(deeper, [n + 1]))
    return deeper(0)
"""
    verdict = run_one(executor, completion)
    assert verdict.verdict == "killed", verdict
    assert "SIGSEGV" in verdict.detail
