"""Corpus windows per forward call: the host's fixed budget, the GPU's by free memory, and the halving retry of a
GPU batch that runs out of memory (with a stand-in model, so that it runs without a GPU)."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from codeguard.errors import DeviceError
from codeguard.models.hf import HFCausalLM
from codeguard.models.loading import GPU_TOKEN_BUDGET, token_budget
from codeguard.models.window_batches import (GPU_LIVE_BATCHES, GPU_LOGIT_SHARE, HOST_LOGIT_BUDGET, LOGIT_BYTES,
                                             windows_per_call)

GIB = 1 << 30
longest = st.integers(1, 40_000)
vocab = st.integers(1, 300_000)
tokens = st.integers(1, 1 << 17)


@given(longest, vocab, tokens)
def test_the_host_budget_bounds_tokens_and_logits(longest, vocab, tokens):
    n = windows_per_call(longest, vocab, tokens)
    assert n >= 1
    if n > 1:
        assert n * longest <= tokens and n * longest * vocab <= HOST_LOGIT_BUDGET


@given(longest, vocab, tokens, st.integers(0, 200 * GIB))
def test_the_gpu_budget_bounds_tokens_and_memory_in_powers_of_two(longest, vocab, tokens, free):
    n = windows_per_call(longest, vocab, tokens, free)
    assert n >= 1 and n & (n - 1) == 0
    if n > 1:
        assert n * longest <= tokens
        assert GPU_LIVE_BATCHES * n * longest * vocab * LOGIT_BYTES <= GPU_LOGIT_SHARE * free


@given(longest, vocab, tokens, st.integers(0, 100 * GIB), st.integers(0, 100 * GIB))
def test_more_free_memory_never_means_fewer_windows(longest, vocab, tokens, free, more):
    assert windows_per_call(longest, vocab, tokens, free + more) >= windows_per_call(longest, vocab, tokens, free)


def test_real_sizes():
    """ctx 512 plus a start token at the Qwen2 vocabulary: one window a call on the host (its 2^25 logits hold less
    than one), 32 on an H200 beside a 7 B pair, 4 on a 24 GB GPU beside a 1.5 B pair."""
    assert windows_per_call(513, 152_064, 4096) == 1
    assert windows_per_call(513, 152_064, GPU_TOKEN_BUDGET, 110 * GIB) == 32
    assert windows_per_call(513, 152_064, GPU_TOKEN_BUDGET, 17 * GIB) == 4
    assert windows_per_call(257, 8192, 4096) == 15  # the zoo on the host


def test_the_token_budget_is_larger_on_a_gpu_unless_set(monkeypatch):
    monkeypatch.delenv("CODEGUARD_TOKEN_BUDGET", raising=False)
    assert token_budget(gpu=True) == GPU_TOKEN_BUDGET > token_budget() == 4096
    monkeypatch.setenv("CODEGUARD_TOKEN_BUDGET", "1024")
    assert token_budget(gpu=True) == token_budget() == 1024


class ShortOfMemory(torch.nn.Module):
    """A causal "model" whose logits at a position depend on the tokens up to it, and which runs out of memory
    (as CUDA does) when a call holds more than `fits` windows."""

    def __init__(self, vocab: int, fits: int):
        super().__init__()
        self.config = SimpleNamespace(vocab_size=vocab)
        self.fits, self.calls = fits, []
        self.table = torch.nn.Parameter(torch.randn(vocab, vocab, generator=torch.Generator().manual_seed(0)))

    def forward(self, input_ids, attention_mask, position_ids):
        self.calls.append(len(input_ids))
        if len(input_ids) > self.fits:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.50 GiB")
        rows = self.table[input_ids].cumsum(dim=1) / (position_ids.unsqueeze(-1) + 1)
        return SimpleNamespace(logits=rows)


def _model(fits: int, free_gpu_bytes: int | None) -> HFCausalLM:
    tokenizer = SimpleNamespace(pad_token_id=0)
    model = HFCausalLM(spec="stand-in", fingerprint="0", backend="torch", model=ShortOfMemory(16, fits),
                       hf_tokenizer=tokenizer, token_budget=1 << 15)
    model._free_gpu_bytes = lambda: free_gpu_bytes
    return model


WINDOWS = [list(np.random.default_rng(1).integers(1, 16, size=n)) for n in (9, 9, 9, 9, 9, 9, 9, 5)]


def _logits(model: HFCausalLM) -> list[torch.Tensor]:
    return [w.detach().clone() for w in model.sequence_logits(WINDOWS)]


def test_a_gpu_batch_that_runs_out_of_memory_is_halved_and_gives_the_same_logits():
    one_by_one, batched = _model(fits=1, free_gpu_bytes=None), _model(fits=3, free_gpu_bytes=100 * GIB)
    one_by_one.windows_per_call = 1
    expected, got = _logits(one_by_one), _logits(batched)
    assert batched.model.calls[:4] == [8, 4, 2, 2]  # 8 by memory, out of memory at 8 and 4, then pairs
    assert sum(batched.model.calls[2:]) == len(WINDOWS)
    for want, have in zip(expected, got, strict=True):
        torch.testing.assert_close(have, want)


def test_a_window_that_fits_nowhere_is_an_error_naming_the_model_and_the_fix():
    model = _model(fits=0, free_gpu_bytes=100 * GIB)
    with pytest.raises(DeviceError, match=r"stand-in: one window of 9 tokens does not fit in the free memory of cpu "
                                          r".*--codeguard-reference-first"):
        _logits(model)
    assert model.model.calls == [8, 4, 2, 1]
