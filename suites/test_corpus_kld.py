"""Ready-made gate: on real code in every language, opt's next-token distributions must stay close to ref's.

Teacher-forced over the per-language corpus (or --codeguard-corpus DIR): mean and p99 KL divergence, same-top
share and perplexity ratio overall, mean KLD and same-top share per language (llama.cpp's --kl-divergence).
"""
import pytest

pytestmark = pytest.mark.codeguard(required=True)  # a suite that exists only to gate: no pair is an error


def test_corpus_divergence_within_baseline(codeguard):
    result = codeguard.corpus_kld()
    codeguard.check(result)
