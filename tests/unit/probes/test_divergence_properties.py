"""Property tests for the distribution metrics the cold-start gate relies on."""
import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from codeguard.probes.divergence import (
    distribution_metrics,
    js_distance,
    js_divergence_bits,
    kl_divergence,
    spearman_over_ref_top,
    topk_overlap,
    total_variation,
)


def _dist(size, unique=False):
    return arrays(np.float64, size, elements=st.floats(1e-6, 1.0), unique=unique).map(lambda a: a / a.sum())


pairs = st.integers(2, 200).flatmap(lambda n: st.tuples(_dist(n), _dist(n)))
# Ties make "top-k" ambiguous; the identity properties below are stated for distinct probabilities.
distinct_pairs = st.integers(2, 200).flatmap(lambda n: st.tuples(_dist(n, unique=True), _dist(n, unique=True)))


def _separated(a, gap=1e-9):
    """True when no two values are within `gap` (normalising can merge distinct draws)."""
    return bool(np.all(np.diff(np.sort(a)) > gap))


@given(pairs)
def test_kl_is_nonnegative_and_zero_only_for_equal(pq):
    p, q = pq
    assert kl_divergence(p, q) >= -1e-12
    assert kl_divergence(p, p) == pytest.approx(0.0, abs=1e-12)
    if np.abs(p - q).max() > 1e-3:
        assert kl_divergence(p, q) > 0


@given(pairs)
def test_js_is_symmetric_and_bounded_in_bits(pq):
    p, q = pq
    js = js_divergence_bits(p, q)
    assert 0.0 <= js <= 1.0 + 1e-12
    assert js == pytest.approx(js_divergence_bits(q, p), abs=1e-12)
    assert js_divergence_bits(p, p) == pytest.approx(0.0, abs=1e-12)
    assert js == pytest.approx(js_distance(p, q) ** 2, abs=1e-9)  # agrees with scipy's definition


@given(pairs)
def test_tv_bounds_and_pinsker(pq):
    p, q = pq
    tv = total_variation(p, q)
    assert 0.0 <= tv <= 1.0
    # Pinsker's inequality ties TV to KL: TV <= sqrt(KL/2).
    assert tv <= math.sqrt(max(kl_divergence(p, q), 0.0) / 2) + 1e-9


def test_js_of_disjoint_distributions_is_one_bit():
    assert js_divergence_bits(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)
    assert kl_divergence(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == math.inf


@given(distinct_pairs, st.integers(1, 60))
def test_topk_overlap_is_a_fraction_and_one_on_itself(pq, k):
    p, q = pq
    assume(_separated(p))
    assert 0.0 <= topk_overlap(p, q, k) <= 1.0
    assert topk_overlap(p, p, k) == 1.0


@given(distinct_pairs)
def test_spearman_is_one_for_a_monotone_transform(pq):
    p, _ = pq
    q = p ** 2 / (p ** 2).sum()  # same order
    assume(len(np.unique(q)) == len(q))
    assert spearman_over_ref_top(p, q) == pytest.approx(1.0)


@given(pairs)
def test_metrics_of_identical_distributions(pq):
    p, _ = pq
    lp = np.log(p)
    m = distribution_metrics(lp, lp)
    assert m["kl_ref_opt"] == pytest.approx(0.0, abs=1e-12)
    assert m["js_divergence"] == pytest.approx(0.0, abs=1e-12)
    assert m["top1_agree"] == 1.0 and m["top1_flip_cost"] == 0.0
    assert m["entropy_delta"] == pytest.approx(0.0, abs=1e-12)


def test_near_tie_flip_costs_only_the_margin():
    ref = np.log(np.array([0.40, 0.38, 0.12, 0.10]))
    opt = np.log(np.array([0.38, 0.40, 0.12, 0.10]))
    m = distribution_metrics(ref, opt)
    assert m["top1_agree"] == 0.0
    assert m["top1_flip_cost"] == pytest.approx(0.02)
    assert m["ref_top1_margin"] == pytest.approx(0.02)


def test_metrics_use_float64_and_scipy_entropy_in_nats():
    ref = np.log(np.full(8, 1 / 8))
    m = distribution_metrics(ref, ref)
    assert m["entropy_ref"] == pytest.approx(math.log(8))


@given(distinct_pairs)
def test_flip_cost_is_zero_iff_top1_agrees_and_at_least_the_margin_otherwise(pq):
    p, q = pq
    assume(_separated(p) and _separated(q))
    m = distribution_metrics(np.log(p), np.log(q))
    assert m["top1_flip_cost"] >= 0.0
    if m["top1_agree"] == 1.0:
        assert m["top1_flip_cost"] == 0.0
    else:
        assert m["top1_flip_cost"] >= m["ref_top1_margin"] - 1e-15 > 0.0


@given(pairs)
def test_entropies_are_bounded_and_kl_directions_are_reported(pq):
    p, q = pq
    m = distribution_metrics(np.log(p), np.log(q))
    for key in ("entropy_ref", "entropy_opt"):
        assert -1e-12 <= m[key] <= math.log(p.size) + 1e-9
    assert m["entropy_delta"] == pytest.approx(abs(m["entropy_opt"] - m["entropy_ref"]))
    assert m["kl_ref_opt"] == pytest.approx(kl_divergence(p, q))
    assert m["kl_opt_ref"] == pytest.approx(kl_divergence(q, p))
    assert -1.0 - 1e-12 <= m["spearman_top100"] <= 1.0 + 1e-12


@given(distinct_pairs, st.integers(1, 60))
def test_topk_overlap_is_symmetric_for_distinct_values(pq, k):
    p, q = pq
    assume(_separated(p) and _separated(q))
    assert topk_overlap(p, q, k) == topk_overlap(q, p, k)


def test_every_reported_metric_is_a_float():
    lp = np.log(np.array([0.5, 0.3, 0.2]))
    assert all(isinstance(v, float) for v in distribution_metrics(lp, lp).values())
