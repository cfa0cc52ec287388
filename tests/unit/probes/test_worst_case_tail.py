"""The worst-case gate's tail mean (the expected shortfall of the searched prefixes) and its bootstrap SE: the
statistic that separates candidates across seeds where the search maximum does not (bench/RESULTS.md)."""
import math

import numpy as np
from hypothesis import given, strategies as st

from codeguard.probes.worst_case import TAIL_SHARE, tail_mean, tail_mean_stderr

divergences = st.lists(st.floats(0.0, 10.0, allow_nan=False), min_size=1, max_size=400)


@given(divergences)
def test_the_tail_mean_lies_between_the_upper_quantile_and_the_maximum(values):
    tail = tail_mean(values)
    assert np.quantile(values, 1 - TAIL_SHARE, method="lower") - 1e-12 <= tail <= max(values) + 1e-12


@given(divergences, st.randoms(use_true_random=False))
def test_the_tail_mean_ignores_order_and_counts_the_worst_share(values, random):
    shuffled = list(values)
    random.shuffle(shuffled)
    worst = sorted(values, reverse=True)[:math.ceil(TAIL_SHARE * len(values))]
    assert math.isclose(tail_mean(shuffled), np.mean(worst), rel_tol=1e-12, abs_tol=1e-15)


@given(divergences, st.floats(0.0, 10.0))
def test_raising_one_prefix_never_lowers_the_tail_mean(values, raise_by):
    raised = sorted(values)
    raised[0] += raise_by  # any single prefix diverging more
    assert tail_mean(raised) >= tail_mean(values) - 1e-12


def test_twenty_prefixes_or_fewer_gate_on_the_worst_one():
    assert tail_mean([0.1, 0.5, 0.2]) == 0.5
    assert tail_mean(np.arange(21.0)) == 19.5  # 21 prefixes: the worst two


def test_a_search_that_measured_nothing_has_an_unknown_tail_and_noise():
    assert math.isnan(tail_mean([])) and math.isnan(tail_mean_stderr([])) and math.isnan(tail_mean_stderr([0.3]))


def test_the_bootstrap_error_repeats_and_is_zero_only_without_spread():
    values = np.random.default_rng(3).gamma(1.0, 0.002, 230)
    first, second = tail_mean_stderr(values), tail_mean_stderr(values.copy())
    assert first == second and 0 < first < tail_mean(values)
    assert tail_mean_stderr(np.zeros(50)) == 0.0  # an identical pair: no noise to report, no within-noise mark
