"""A subclass of int with a tampered __eq__ looks like a builtin value; the channel takes exact types only."""
from tests.hostile.conftest import run_one


def test_tampered_int_subclass_is_invalid(executor):
    completion = """    class Sly(int):
        def __eq__(self, other):
            return True
        __hash__ = int.__hash__
    return Sly(0)
"""
    verdict = run_one(executor, completion)
    assert verdict.verdict == "invalid", verdict
    assert "Sly" in verdict.detail


def test_tampered_value_inside_a_container_is_invalid(executor):
    completion = """    class Sly(str):
        def __eq__(self, other):
            return True
    return [1, (2, Sly("x"))]
"""
    verdict = run_one(executor, completion)
    assert verdict.verdict == "invalid", verdict
