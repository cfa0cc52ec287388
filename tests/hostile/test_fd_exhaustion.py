"""Opening files until the descriptor table is full hits RLIMIT_NOFILE in the sample, not the harness's table."""
from tests.hostile.conftest import run_one


def test_descriptor_exhaustion_is_contained(executor):
    completion = """    import os
    hoard = []
    while True:
        hoard.append(os.open("/dev/null", os.O_RDONLY))
"""
    verdict = run_one(executor, completion)
    assert verdict.verdict == "error", verdict
    assert "Too many open files" in verdict.detail
