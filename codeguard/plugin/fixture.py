"""The `codeguard` fixture's object: run probes on the pair and gate them against baselines, from a test.

PYTEST_DONT_REWRITE
"""
from __future__ import annotations

import pytest

from codeguard.errors import CodeguardError
from codeguard.gating.conditions import conditions_verdict
from codeguard.plugin.session import CodeguardSession


def _or_fail(call):
    """Turns a user-caused codeguard error into a clean failure message (no deep traceback)."""
    __tracebackhide__ = True
    try:
        return call()
    except CodeguardError as error:
        message = f"codeguard: {error}"
    pytest.fail(message, pytrace=False)  # outside the except: no "during handling" chain in the report


class CodeguardHelper:
    """The `codeguard` fixture: run probes on the pair and gate them against baselines."""

    def __init__(self, session: CodeguardSession, record_property, origin=None):
        self._session = session
        self._record = record_property
        self._origin = origin  # the test file using the fixture (--codeguard-calibrate runs it again)

    @property
    def options(self):
        return self._session.options

    def cold_start(self, **config):
        __tracebackhide__ = True
        return _or_fail(lambda: self._session.cold_start(**config))

    def keyword_mass(self, **config):
        """PKP/KAP/STP/NLP of both models from the start token, and their shifts (the study's aggregates)."""
        __tracebackhide__ = True
        return _or_fail(lambda: self._session.keyword_mass(**config))

    def corpus_kld(self, **config):
        """Teacher-forced KL divergence over the corpus, with llama.cpp's statistics, per language."""
        __tracebackhide__ = True
        return _or_fail(lambda: self._session.corpus_probe("corpus-kld", **config))

    def keyword_shift(self, **config):
        """Log-probabilities of keywords where they occur in real code, ref vs opt, per language."""
        __tracebackhide__ = True
        return _or_fail(lambda: self._session.corpus_probe("keyword-shift", **config))

    def pass_at_k(self, **config):
        """n samples per problem from both models, executed in the sandbox; pass@k and the paired comparison."""
        __tracebackhide__ = True
        return _or_fail(lambda: self._session.pass_at_k(**config))

    def worst_case(self, **config):
        """Hypothesis searches code prefixes for the largest next-token divergence; a prefix beyond the baseline's
        (or --codeguard-limit's) limit is shrunk, stored in .hypothesis/ and replayed first on the next run."""
        __tracebackhide__ = True
        return _or_fail(lambda: self._session.worst_case(**config))

    def baseline(self, suite: str):
        """The stored baseline for `suite` (read-only), or None."""
        path = self._session.baseline_file(suite)
        return _or_fail(lambda: self._session._read_if_present(path))

    def check(self, result, suite: str | None = None):
        """Gates `result` against its suite's baseline (the result's own suite unless a declared one is named);
        fails the test with a metric table on regression."""
        __tracebackhide__ = True
        verdict = _or_fail(lambda: self._session.check(result, suite, self._origin))
        for check in verdict.checks:
            self._record(f"codeguard.{verdict.suite}.{check.metric}", check.obtained)
        if not verdict.passed:
            pytest.fail(verdict.message(), pytrace=False)
        return verdict

    def assert_metrics(self, result, *conditions: str, suite: str | None = None):
        """Absolute limits on any probe's metrics, one line each (`"pkp_rel_shift.python <= 0.05"`), labelled
        `suite` in the summary and the reports (default: the result's own suite); fails the test with the table."""
        __tracebackhide__ = True
        verdict = _or_fail(lambda: conditions_verdict(result, conditions, suite))
        self._session.verdicts.append(verdict)
        for check in verdict.checks:
            self._record(f"codeguard.{verdict.suite}.{check.metric}", check.obtained)
        if not verdict.passed:
            pytest.fail(verdict.message(), pytrace=False)
        return verdict
