"""Shared memory is a filesystem too: /dev/shm is private to the sandbox, so nothing lands in the host's."""
from pathlib import Path

from tests.hostile.conftest import require_isolation, run_one


def test_writes_to_dev_shm_stay_in_the_sandbox(executor, token):
    require_isolation(executor)
    target = Path("/dev/shm") / token
    completion = f"""    with open({str(target)!r}, "w") as handle:
        handle.write("left behind")
    return x + 1
"""
    verdict = run_one(executor, completion)
    assert verdict.verdict == "passed", verdict
    assert not target.exists()
