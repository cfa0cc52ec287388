"""Top-K reference cache reductions: the top sets reach their mass, and KL from them is a lower bound of the exact KL
that equals it when the sets cover the vocabulary."""
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


@settings(max_examples=200, deadline=None)
@given(logit_pairs(), st.floats(min_value=0.01, max_value=1.0), st.integers(min_value=1, max_value=48))
def test_top_k_kld_never_exceeds_the_exact_kld(pair, mass, k):
    ref, opt = pair
    exact, lr = _exact(ref, opt)
    top = top_sets(torch.from_numpy(lr), mass, k)
    _, _, bound = top_k_kld(top, torch.from_numpy(opt), rows=7)
    bound = bound.numpy()
    assert np.isfinite(bound).all() and (bound >= 0).all()
    assert (bound <= exact + FLOAT32_SLACK * (1 + exact)).all()


@settings(max_examples=200, deadline=None)
@given(logit_pairs())
def test_top_k_kld_equals_the_exact_kld_when_the_sets_cover_the_vocabulary(pair):
    ref, opt = pair
    exact, lr = _exact(ref, opt)
    top = top_sets(torch.from_numpy(lr), 1.0, ref.shape[1])
    _, _, kld = top_k_kld(top, torch.from_numpy(opt))
    np.testing.assert_allclose(kld.numpy(), exact, rtol=FLOAT32_SLACK, atol=FLOAT32_SLACK)


@settings(max_examples=200, deadline=None)
@given(logit_pairs(), st.floats(min_value=0.01, max_value=1.0), st.integers(min_value=1, max_value=48))
def test_top_sets_reach_their_mass_and_record_the_rest_as_tail(pair, mass, k):
    ref, _ = pair
    lr = log_softmax(ref.astype(np.float64), axis=1)
    top = top_sets(torch.from_numpy(lr), mass, k)
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
    top = top_sets(torch.log_softmax(ref.double(), dim=1), 0.999, 32)
    lse, top_opt, _ = top_k_kld(top, opt)
    stats = pair_stats(ref, opt)
    torch.testing.assert_close(lse, stats.lse_opt, rtol=1e-12, atol=1e-12)
    assert torch.equal(top_opt, stats.top_opt)
