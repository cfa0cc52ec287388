"""Top-K reference cache reductions: the top sets reach their mass, the tail draws come from the rest of ref's
distribution, and KL from them is an unbiased estimate of the exact KL, never below the coarsened (top tokens, one
bucket) lower bound, and equal to it when the sets cover the vocabulary."""
import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.special import log_softmax, rel_entr

from codeguard.probes.corpus.pair_stats import pair_stats
from codeguard.probes.reference_cache.reductions import top_k_kld, top_sets

finite_logits = st.floats(min_value=-30, max_value=30, allow_nan=False, width=32)
# The cache stores ref's top log-probabilities as float32: ~6e-8 relative rounding per stored value.
FLOAT32_SLACK = 1e-6


@st.composite
def logit_pairs(draw):
    rows = draw(st.integers(min_value=1, max_value=40))
    vocab = draw(st.integers(min_value=2, max_value=48))
    ref = draw(arrays(np.float32, (rows, vocab), elements=finite_logits))
    if draw(st.booleans()):
        noise = draw(arrays(np.float32, (rows, vocab), elements=st.floats(-0.5, 0.5, width=32)))
        opt = (ref + noise).astype(np.float32)
    else:
        opt = draw(arrays(np.float32, (rows, vocab), elements=finite_logits))
    return ref, opt


def _exact(ref, opt):
    lr, lo = log_softmax(ref.astype(np.float64), axis=1), log_softmax(opt.astype(np.float64), axis=1)
    return rel_entr(np.exp(lr), np.exp(lo)).sum(axis=1), lr


def _sets(lr, mass, k, samples=8, seed=0):
    return top_sets(torch.from_numpy(lr), mass, k, samples, torch.Generator().manual_seed(seed))


def _tail_terms(ref, opt, top):
    """Per row, computed by enumeration: the coarsened KL (top tokens, one tail bucket), and the mean and variance
    of one draw's contribution t_r (e^x - 1 - x) over ref's renormalised tail (what the estimator averages), and
    the largest distance of a draw's contribution from that mean."""
    lr, lo = log_softmax(ref.astype(np.float64), axis=1), log_softmax(opt.astype(np.float64), axis=1)
    coarse, mean, variance, spread = [], [], [], []
    for row in range(ref.shape[0]):
        kept = top.ids[top.offsets[row]:top.offsets[row + 1]]
        rest = np.setdiff1d(np.arange(ref.shape[1]), kept)
        head = rel_entr(np.exp(lr[row, kept]), np.exp(lo[row, kept])).sum()
        if rest.size == 0 or not np.isfinite(top.tail[row]):
            coarse.append(head), mean.append(0.0), variance.append(0.0), spread.append(0.0)
            continue
        t_r, t_o = np.exp(lr[row, rest]).sum(), np.exp(lo[row, rest]).sum()
        coarse.append(head + rel_entr(t_r, t_o))
        p_r = np.exp(lr[row, rest]) / t_r
        x = (lo[row, rest] - np.log(t_o)) - (lr[row, rest] - np.log(t_r))
        y = t_r * (np.expm1(x) - x)
        mean.append((p_r * y).sum())
        variance.append((p_r * (y - mean[-1]) ** 2).sum())
        spread.append(np.abs(y - mean[-1]).max())
    return np.array(coarse), np.array(mean), np.array(variance), np.array(spread)


def _bernstein_bound(variance, spread, draws, failure=1e-9):
    """t with P(|mean of `draws` draws - expectation| >= t) <= `failure` for terms within `spread` of their mean
    (Bernstein's inequality, solved for t): ~6.5 standard errors for well-behaved rows, and wider where a rare draw
    carries much of the mean (opt's mass on a token ref almost never emits), where a normal bound would not hold."""
    log_term = np.log(2 / failure)
    linear = 2 * log_term * spread / 3
    return (linear + np.sqrt(linear ** 2 + 8 * draws * log_term * variance)) / (2 * draws)


@settings(max_examples=200, deadline=None)
@given(logit_pairs(), st.floats(min_value=0.01, max_value=1.0), st.integers(min_value=1, max_value=48))
def test_the_tail_term_makes_the_coarsened_kld_exact_in_expectation(pair, mass, k):
    """The identity the estimator rests on: coarsened KL + E[one draw's t_r (e^x - 1 - x)] = the exact KL."""
    ref, opt = pair
    exact, lr = _exact(ref, opt)
    coarse, tail_mean, _, _ = _tail_terms(ref, opt, _sets(lr, mass, k))
    np.testing.assert_allclose(coarse + tail_mean, exact, rtol=1e-9, atol=1e-9)


@settings(max_examples=200, deadline=None)
@given(logit_pairs(), st.floats(min_value=0.01, max_value=1.0), st.integers(min_value=1, max_value=48))
def test_top_k_kld_never_falls_below_the_coarsened_lower_bound(pair, mass, k):
    ref, opt = pair
    exact, lr = _exact(ref, opt)
    top = _sets(lr, mass, k)
    _, _, estimate = top_k_kld(top, torch.from_numpy(opt), rows=7)
    estimate = estimate.numpy()
    coarse, _, _, _ = _tail_terms(ref, opt, top)
    assert np.isfinite(estimate).all() and (estimate >= 0).all()
    assert (estimate >= coarse - FLOAT32_SLACK * (1 + coarse)).all()
    assert (coarse <= exact + FLOAT32_SLACK * (1 + exact)).all()


@settings(max_examples=100, deadline=None)
@given(logit_pairs(), st.floats(min_value=0.01, max_value=0.9), st.integers(min_value=1, max_value=8),
       st.integers(min_value=0, max_value=2**32 - 1))
def test_top_k_kld_estimates_the_exact_kld_within_its_sampling_error(pair, mass, k, seed):
    """Many draws: each row's estimate is within a Bernstein bound (from the enumerated variance and range of one
    draw's term, failing with probability 1e-9 a row) of the exact KL. Seeded draws make each example deterministic.

    A bound of 6 standard errors was falsified: ref near-uniform with one token at -7, opt's mass on that token, so
    the mean rests on a draw 4,096 draws from ref's tail mostly miss (the estimate is unbiased, not normal)."""
    ref, opt = pair
    exact, lr = _exact(ref, opt)
    draws = 4096
    top = _sets(lr, mass, k, samples=draws, seed=seed)
    _, _, estimate = top_k_kld(top, torch.from_numpy(opt))
    _, _, variance, spread = _tail_terms(ref, opt, top)
    error = np.abs(estimate.numpy() - exact)
    assert (error <= _bernstein_bound(variance, spread, draws) + FLOAT32_SLACK * (1 + exact)).all()


def test_identical_models_give_no_divergence():
    logits = (torch.randn(30, 500, generator=torch.Generator().manual_seed(1)) * 4).numpy()
    _, lr = _exact(logits, logits)
    _, _, kld = top_k_kld(_sets(lr, 0.9, 16, samples=32), torch.from_numpy(logits))
    assert (kld.numpy() <= FLOAT32_SLACK).all()


def test_the_draws_come_from_the_tail_and_repeat_for_a_seed():
    logits = torch.randn(20, 300, generator=torch.Generator().manual_seed(2)) * 3
    lr = torch.log_softmax(logits.double(), dim=1).numpy()
    top = _sets(lr, 0.9, 16, samples=64, seed=5)
    for row in range(lr.shape[0]):
        kept = set(top.ids[top.offsets[row]:top.offsets[row + 1]].tolist())
        assert not kept & set(top.tail_ids[row].tolist())
        np.testing.assert_allclose(top.tail_logprobs[row], lr[row, top.tail_ids[row]].astype(np.float32))
    again = _sets(lr, 0.9, 16, samples=64, seed=5)
    assert np.array_equal(top.tail_ids, again.tail_ids)
    assert not np.array_equal(top.tail_ids, _sets(lr, 0.9, 16, samples=64, seed=6).tail_ids)


@settings(max_examples=200, deadline=None)
@given(logit_pairs())
def test_top_k_kld_equals_the_exact_kld_when_the_sets_cover_the_vocabulary(pair):
    ref, opt = pair
    exact, lr = _exact(ref, opt)
    top = _sets(lr, 1.0, ref.shape[1])
    _, _, kld = top_k_kld(top, torch.from_numpy(opt))
    np.testing.assert_allclose(kld.numpy(), exact, rtol=FLOAT32_SLACK, atol=FLOAT32_SLACK)


@settings(max_examples=200, deadline=None)
@given(logit_pairs(), st.floats(min_value=0.01, max_value=1.0), st.integers(min_value=1, max_value=48))
def test_top_sets_reach_their_mass_and_record_the_rest_as_tail(pair, mass, k):
    ref, _ = pair
    lr = log_softmax(ref.astype(np.float64), axis=1)
    top = _sets(lr, mass, k)
    counts = np.diff(top.offsets)
    assert (counts >= 1).all() and (counts <= min(k, ref.shape[1])).all()
    for row in range(ref.shape[0]):
        ids = top.ids[top.offsets[row]:top.offsets[row + 1]]
        kept = np.exp(lr[row, ids]).sum()
        assert len(set(ids.tolist())) == ids.size
        # the kept tokens are the most likely ones, most likely first
        assert np.all(np.diff(lr[row, ids]) <= 0) and lr[row, ids].min() >= np.delete(lr[row], ids).max(initial=-np.inf)
        assert kept >= mass - 1e-9 or ids.size == min(k, ref.shape[1])
        np.testing.assert_allclose(np.exp(top.tail[row]), max(1.0 - kept, 0.0), atol=1e-9)


def test_opt_side_statistics_match_pair_stats():
    generator = torch.Generator().manual_seed(0)
    ref, opt = torch.randn(50, 300, generator=generator) * 3, torch.randn(50, 300, generator=generator) * 3
    top = top_sets(torch.log_softmax(ref.double(), dim=1), 0.999, 32, 8, torch.Generator().manual_seed(0))
    lse, top_opt, _ = top_k_kld(top, opt)
    stats = pair_stats(ref, opt)
    np.testing.assert_allclose(lse.numpy(), stats.lse_opt, rtol=1e-12, atol=1e-12)
    assert np.array_equal(top_opt.numpy(), stats.top_opt)


@given(st.integers(min_value=2, max_value=1 << 20))
def test_default_tail_draws_keep_a_top_k_cache_small_at_any_vocabulary(vocabulary):
    """At least 32 draws; beyond the zoo's 8,192 tokens one per 256 entries: 8 bytes each stay ~1.6 % of llama.cpp's
    vocabulary x 2 bytes a position."""
    from codeguard.probes.reference_cache.build import default_tail_samples
    draws = default_tail_samples(vocabulary)
    assert draws >= 32
    assert draws == 32 or draws * 8 <= 0.016 * vocabulary * 2
    assert default_tail_samples(151936) == 593
