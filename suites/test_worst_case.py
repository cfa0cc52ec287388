"""Ready-made gate: no code prefix hypothesis finds may make opt's next token diverge beyond the limit.

hypothesis draws batches of syntactically valid prefixes (python, javascript, java, c, go, rust; grammar-built and
corpus-derived), steers towards the largest KL(ref‖opt) with `target()`, and shrinks the first prefix beyond the
limit (baseline, or --codeguard-limit max_prefix_kl=X) to the shortest one that still fails. The counterexample is
stored under .hypothesis/codeguard/ and replayed first on the next run.

Run: pytest suites --model-pair REF,OPT   (accept a candidate: add --codeguard-update)
"""
import pytest

pytestmark = pytest.mark.codeguard(required=True)  # a suite that exists only to gate: no pair is an error


def test_no_prefix_diverges_beyond_the_limit(codeguard):
    """The worst prefix found, shrunk, with both models' top next tokens in the failure message."""
    result = codeguard.worst_case()
    codeguard.check(result)
