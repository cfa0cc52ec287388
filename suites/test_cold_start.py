"""Ready-made gate: the cold-start next-token distribution (from the start token only) must not diverge.

Run: pytest suites --model-pair REF,OPT   (accept a candidate: add --codeguard-update)
"""
import pytest

pytestmark = pytest.mark.codeguard(required=True)  # a suite that exists only to gate: no pair is an error


def test_cold_start_within_baseline(codeguard):
    """KL, JS, TV, entropy shift, margin-weighted top-1 flips, top-k overlap and rank correlation vs baseline."""
    result = codeguard.cold_start()
    codeguard.check(result)

