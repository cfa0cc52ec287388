"""Ready-made gate: opt must still write code that passes the problems' tests as often as ref does.

n samples per problem from each model (--codeguard-samples, default 5) on HumanEval's first 40 problems (or
--codeguard-problems), executed in the sandbox. Fails when opt's pass@k falls below the baseline beyond its
tolerance, or when opt is significantly worse than ref on the same problems (exact McNemar for pass@1, a bootstrap
interval for every k); the message also says the smallest drop this sample size can detect.
"""
import pytest

pytestmark = pytest.mark.codeguard(required=True)  # a suite that exists only to gate: no pair is an error


def test_pass_at_k_within_baseline(codeguard):
    result = codeguard.pass_at_k()
    codeguard.check(result)
