"""pair_stats(): the corpus probes' fused float64 statistics equal the textbook definitions, chunking aside."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.special import log_softmax, rel_entr

from codeguard.probes.corpus.pair_stats import device_pair_stats, pair_stats, reduction_device, token_logprobs

finite_logits = st.floats(min_value=-40, max_value=40, allow_nan=False, width=32)


@st.composite
def logit_pairs(draw):
    rows = draw(st.integers(min_value=1, max_value=40))
    vocab = draw(st.integers(min_value=2, max_value=64))
    ref = draw(arrays(np.float32, (rows, vocab), elements=finite_logits))
    if draw(st.booleans()):  # near-identical models, the case the gate lives on
        noise = draw(arrays(np.float32, (rows, vocab), elements=st.floats(-0.0078125, 0.0078125, width=32)))
        opt = (ref + noise).astype(np.float32)
    else:
        opt = draw(arrays(np.float32, (rows, vocab), elements=finite_logits))
    return ref, opt


@settings(max_examples=200, deadline=None)
@given(logit_pairs(), st.integers(min_value=1, max_value=17))
def test_matches_scipy_definitions_for_any_chunk_size(pair, rows_per_chunk):
    ref, opt = pair
    stats = pair_stats(torch.from_numpy(ref), torch.from_numpy(opt), rows=rows_per_chunk)
    lr, lo = log_softmax(ref.astype(np.float64), axis=1), log_softmax(opt.astype(np.float64), axis=1)
    expected = rel_entr(np.exp(lr), np.exp(lo)).sum(axis=1)
    np.testing.assert_allclose(stats.kld, expected, rtol=1e-9, atol=1e-12)
    assert (stats.kld >= 0).all()
    np.testing.assert_allclose(stats.lse_ref, ref.astype(np.float64)[:, 0] - lr[:, 0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(stats.lse_opt, opt.astype(np.float64)[:, 0] - lo[:, 0], rtol=1e-12, atol=1e-12)
    # top-1 is a maximum of the log-probabilities (ties may pick either index)
    picked = lr[np.arange(len(lr)), stats.top_ref]
    assert (picked == lr.max(axis=1)).all()
    targets = np.arange(len(ref)) % ref.shape[1]
    got = token_logprobs(torch.from_numpy(ref), stats.lse_ref, np.arange(len(ref)), targets)
    np.testing.assert_allclose(got, lr[np.arange(len(ref)), targets], rtol=1e-12, atol=1e-12)


@settings(max_examples=50, deadline=None)
@given(logit_pairs())
def test_identical_logits_give_exactly_zero(pair):
    ref, _ = pair
    stats = pair_stats(torch.from_numpy(ref), torch.from_numpy(ref.copy()))
    assert (stats.kld == 0).all()
    assert np.array_equal(stats.top_ref, stats.top_opt)


def test_small_divergences_keep_their_relative_precision():
    """KL of ~1e-7 nats is still exact to 1e-6 relative: the formula has no float32 step (its absolute error is
    ~2e-15, float64's rounding of the log-normalisers, like the textbook formula's)."""
    generator = torch.Generator().manual_seed(0)
    ref = torch.randn(64, 8192, generator=generator) * 3
    opt = ref + 1e-3 * torch.randn(64, 8192, generator=generator)
    stats = pair_stats(ref, opt)
    lr, lo = torch.log_softmax(ref.double(), 1), torch.log_softmax(opt.double(), 1)
    expected = (lr.exp() * (lr - lo)).sum(1)
    assert expected.max() < 1e-6 and expected.min() > 1e-8
    np.testing.assert_allclose(stats.kld, expected.numpy(), rtol=1e-6)


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match=r"logit shapes differ: \(3, 5\) vs \(3, 6\)"):
        pair_stats(torch.zeros(3, 5), torch.zeros(3, 6))


def test_chunks_scale_with_the_vocabulary_and_do_not_change_a_row():
    """Chunks hold about LOGITS_PER_CHUNK logits whatever the vocabulary (32 rows of 8,192, 5 of 49,152): each row's
    numbers are the same in any chunk, to float64 rounding."""
    from codeguard.probes.corpus.pair_stats import chunk_rows
    assert chunk_rows(8192) == 32 and chunk_rows(49152) == 5 and chunk_rows(10 ** 6) == 1
    generator = torch.Generator().manual_seed(1)
    ref = torch.randn(23, 49152, generator=generator) * 2
    opt = ref + torch.randn(23, 49152, generator=generator) * 0.05
    default, one_chunk = pair_stats(ref, opt), pair_stats(ref, opt, rows=23)
    for name in ("kld", "lse_ref", "lse_opt"):
        np.testing.assert_allclose(getattr(default, name), getattr(one_chunk, name), rtol=1e-12)
    assert np.array_equal(default.top_ref, one_chunk.top_ref) and np.array_equal(default.top_opt, one_chunk.top_opt)


@settings(max_examples=100, deadline=None)
@given(logit_pairs(), st.integers(min_value=1, max_value=17))
def test_the_device_reduction_gives_the_host_numbers(pair, rows_per_chunk):
    """A GPU reduces with torch, the CPU with numpy: the same formula, so the same numbers to float64 rounding (run
    here with torch on the CPU; a GPU's float64 kernels round alike)."""
    ref, opt = (torch.from_numpy(x) for x in pair)
    host, device = pair_stats(ref, opt, rows=rows_per_chunk), device_pair_stats(ref, opt, "cpu")
    for name in ("kld", "lse_ref", "lse_opt"):
        np.testing.assert_allclose(getattr(device, name), getattr(host, name), rtol=1e-12, atol=1e-14)
    for name in ("top_ref", "top_opt"):  # ties may pick either index; both are maxima
        logits = ref if name == "top_ref" else opt
        rows = torch.arange(len(logits))
        assert torch.equal(logits[rows, torch.from_numpy(getattr(device, name))],
                           logits[rows, torch.from_numpy(getattr(host, name))])
    assert all(isinstance(getattr(s, name), np.ndarray) for s in (host, device) for name in ("kld", "top_ref"))


def test_the_reduction_runs_on_a_cuda_device_when_either_side_is_there():
    """No GPU needed: the choice reads only where each tensor lives."""
    def on(device):
        return type("Logits", (), {"device": torch.device(device)})()
    assert reduction_device(torch.zeros(1), torch.zeros(1)) == torch.device("cpu")
    assert reduction_device(on("cuda:1"), torch.zeros(1)) == torch.device("cuda:1")
    assert reduction_device(torch.zeros(1), on("cuda:0")) == torch.device("cuda:0")
    assert reduction_device(on("mps"), on("mps")) == torch.device("cpu")  # MPS has no float64


def test_empty_windows_give_empty_statistics():
    for stats in (pair_stats(torch.zeros(0, 7), torch.zeros(0, 7)), device_pair_stats(torch.zeros(0, 7),
                                                                                       torch.zeros(0, 7), "cpu")):
        assert stats.kld.shape == (0,) and stats.kld.dtype == np.float64 and stats.top_ref.dtype == np.int64


def test_bfloat16_logits_give_the_numbers_of_their_float32_values():
    """A model that runs in bfloat16 hands back bfloat16 logits, a type numpy lacks: widened exactly."""
    generator = torch.Generator().manual_seed(2)
    ref = (torch.randn(9, 300, generator=generator) * 3).bfloat16()
    opt = (ref.float() + 0.1 * torch.randn(9, 300, generator=generator)).bfloat16()
    narrow, wide = pair_stats(ref, opt), pair_stats(ref.float(), opt.float())
    for name in ("kld", "lse_ref", "lse_opt", "top_ref", "top_opt"):
        assert np.array_equal(getattr(narrow, name), getattr(wide, name)), name


@settings(max_examples=50, deadline=None)
@given(logit_pairs(), st.integers(min_value=1, max_value=17))
def test_numpy_logits_give_the_numbers_of_tensors_bit_for_bit(pair, rows_per_chunk):
    """llama.cpp hands numpy arrays (no torch on a GGUF pair's way); beside a tensor, or alone, the same numbers."""
    ref, opt = pair
    tensors = pair_stats(torch.from_numpy(ref), torch.from_numpy(opt), rows=rows_per_chunk)
    for left, right in ((ref, opt), (torch.from_numpy(ref), opt), (ref, torch.from_numpy(opt))):
        stats = pair_stats(left, right, rows=rows_per_chunk)
        for name in ("kld", "lse_ref", "lse_opt", "top_ref", "top_opt"):
            assert np.array_equal(getattr(stats, name), getattr(tensors, name)), name
    rows, targets = np.arange(len(ref)), np.arange(len(ref)) % ref.shape[1]
    assert np.array_equal(token_logprobs(ref, tensors.lse_ref, rows, targets),
                          token_logprobs(torch.from_numpy(ref), tensors.lse_ref, rows, targets))


def test_the_device_reduction_takes_a_numpy_side():
    """A GGUF candidate (numpy, host) beside a GPU reference: its chunks go to the reference's device."""
    generator = np.random.default_rng(3)
    ref = (generator.standard_normal((20, 500)) * 3).astype(np.float32)
    opt = (ref + 0.1 * generator.standard_normal((20, 500))).astype(np.float32)
    host, device = pair_stats(ref, opt), device_pair_stats(torch.from_numpy(ref), opt, "cpu")
    for name in ("kld", "lse_ref", "lse_opt"):
        np.testing.assert_allclose(getattr(device, name), getattr(host, name), rtol=1e-12, atol=1e-14)
    assert np.array_equal(device.top_opt, host.top_opt)
