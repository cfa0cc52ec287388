"""Ready-made gate: how much cold-start probability each language's keywords get (PKP), and STP/NLP, must not shift.

Run: pytest suites --model-pair REF,OPT   (accept a candidate: add --codeguard-update)
"""
import pytest

pytestmark = pytest.mark.codeguard(required=True)  # a suite that exists only to gate: no pair is an error


def test_keyword_mass_within_baseline(codeguard):
    """Per-language relative PKP shift, overall PKP/STP/NLP shifts and the language-mix JS, against the baseline."""
    result = codeguard.keyword_mass()
    codeguard.check(result)
