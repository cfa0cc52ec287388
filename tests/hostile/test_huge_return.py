"""A return value too large to carry (or to convert) must be refused without exhausting the checker."""
from tests.hostile.conftest import run_one


def test_huge_string_is_invalid(executor):
    verdict = run_one(executor, "    return 'x' * (64 << 20)\n")
    assert verdict.verdict == "invalid", verdict
    assert "larger than" in verdict.detail


def test_huge_int_is_invalid(executor):
    verdict = run_one(executor, "    return 7 ** 100000\n")
    assert verdict.verdict == "invalid", verdict


def test_deeply_nested_value_is_invalid(executor):
    nested = "    value = []\n    for _ in range(10000):\n        value = [value]\n    return value\n"
    verdict = run_one(executor, nested)
    assert verdict.verdict == "invalid", verdict
