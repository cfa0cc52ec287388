"""Batched token choice: each row from its own stream, independent of the other rows, equal to the one-row
reference sampler (llama.cpp backend's `_choose`) on the same uniform draws."""
import numpy as np
import pytest
import torch

from codeguard.models.gguf import _choose
from codeguard.models.sampling import TOP_K, choose_tokens, row_generators


def _logits(rows: int, vocab: int, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    # rows alternate peaked (nucleus of a few tokens: the topk path) and flat (nucleus past TOP_K: the full sort)
    scale = np.where(np.arange(rows) % 2 == 0, 8.0, 0.3)[:, None]
    return torch.from_numpy(rng.standard_normal((rows, vocab)) * scale)


@pytest.mark.parametrize("temperature, top_p", [(0.8, 0.95), (1.0, 1.0), (0.5, 0.5), (1.3, 0.99)])
def test_each_row_matches_the_one_row_reference_sampler(temperature, top_p):
    logits = _logits(12, 3 * TOP_K, seed=1)
    for step in range(5):
        batched = choose_tokens(logits, temperature, top_p, row_generators([(7, r, step) for r in range(12)]))
        one_by_one = [_choose(logits[r].numpy(), temperature, top_p, np.random.default_rng([7, r, step]))
                      for r in range(12)]
        assert batched == one_by_one


def test_a_rows_choice_does_not_depend_on_the_other_rows():
    logits = _logits(10, 500, seed=2)
    together = choose_tokens(logits, 0.8, 0.95, row_generators([(3, r) for r in range(10)]))
    order = [7, 2, 9, 0, 5]
    subset = choose_tokens(logits[order], 0.8, 0.95, row_generators([(3, r) for r in order]))
    assert subset == [together[r] for r in order]
    alone = [choose_tokens(logits[r:r + 1], 0.8, 0.95, row_generators([(3, r)]))[0] for r in range(10)]
    assert alone == together


def test_greedy_is_argmax_and_draws_nothing():
    logits = _logits(4, 100, seed=3)
    generators = row_generators([1, 2, 3, 4])
    assert choose_tokens(logits, 0.0, 0.95, generators) == logits.argmax(dim=-1).tolist()
    assert [g.random() for g in generators] == [g.random() for g in row_generators([1, 2, 3, 4])]
