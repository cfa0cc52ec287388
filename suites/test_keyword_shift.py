"""Ready-made gate: where keywords occur in real code, opt must score them like ref does.

At every keyword a real lexer finds in the corpus (or --codeguard-corpus DIR): mean |Δ log p| overall and per
language, and the share of positions where ref ranked the keyword first and opt no longer does.
"""
import pytest

pytestmark = pytest.mark.codeguard(required=True)  # a suite that exists only to gate: no pair is an error


def test_keyword_shift_within_baseline(codeguard):
    result = codeguard.keyword_shift()
    codeguard.check(result)
