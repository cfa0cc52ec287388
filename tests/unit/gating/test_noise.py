"""The gate against the metric's own noise: within-noise marking, the two tolerance warnings, bad standard errors."""
import math
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codeguard.gating.baselines import Baseline, MetricBaseline
from codeguard.gating.gate import evaluate, gate
from codeguard.gating.noise import noise_warning, tolerance, within_noise
from codeguard.gating.rules import HIGHER, LOWER
from codeguard.probes.result import ModelInfo, ProbeResult
from codeguard.probes.uncertainty import detectable_change


def _baseline(value=0.002, direction=LOWER, rtol=0.0, atol=0.001, metric="kld_mean"):
    return Baseline("corpus_kld", {"fingerprint": "sha256:ref", "spec": "R"}, {}, {},
                    {metric: MetricBaseline(value, direction, rtol, atol)})


def _gate(obtained, stderr, **baseline):
    b = _baseline(**baseline)
    metric = next(iter(b.metrics))
    return gate("corpus_kld", {metric: obtained}, baseline=b, stderr={metric: stderr}, more_data="a larger corpus")


def test_a_pass_within_two_ses_of_the_limit_is_marked_and_still_passes():
    verdict = _gate(0.0029, 1e-4)  # limit 0.003: 1 SE below it
    check = verdict.checks[0]
    assert verdict.passed and check.passed and check.within_noise and check.stderr == 1e-4
    assert check.note == "passes, but within noise of the limit: re-run with a larger corpus"
    row = verdict.table().splitlines()[1]
    assert "ok (passes, but within noise of the limit" in row and "0.0001" in row
    assert verdict.to_dict()["checks"][0]["within_noise"] is True


def test_a_failure_within_noise_says_so_and_still_fails():
    verdict = _gate(0.0031, 1e-4)
    check = verdict.checks[0]
    assert not verdict.passed and check.within_noise
    assert check.note.startswith("fails within noise of the limit")
    assert "FAIL (fails within noise of the limit" in verdict.message()


@pytest.mark.parametrize("obtained", [0.0025, 0.0035])
def test_far_from_the_limit_is_a_plain_verdict(obtained):
    check = _gate(obtained, 1e-4).checks[0]
    assert not check.within_noise and check.note == ""


def test_higher_is_better_metrics_are_marked_on_their_side():
    verdict = _gate(0.925, 0.003, value=0.95, direction=HIGHER, atol=0.02, metric="same_top_p")  # limit 0.93
    assert not verdict.passed and verdict.checks[0].within_noise
    assert _gate(0.935, 0.003, value=0.95, direction=HIGHER, atol=0.02, metric="same_top_p").checks[0].within_noise


def test_tolerance_below_two_ses_warns_that_the_gate_will_flap():
    verdict = _gate(0.002, 6e-4)  # tolerance 0.001 < 2 SE = 0.0012
    assert verdict.passed
    assert len(verdict.warnings) == 1
    assert "tolerance below the metric's own noise" in verdict.warnings[0] and "will flap" in verdict.warnings[0]
    assert verdict.warnings[0].endswith("measure on a larger corpus")
    assert verdict.to_dict()["warnings"] == verdict.warnings


def test_tolerance_below_the_detectable_change_warns_that_the_gate_is_blind():
    se = 0.001 / 2.2  # 2 SE < tolerance 0.001 < 2.33 SE
    verdict = _gate(0.002, se)
    assert len(verdict.warnings) == 1
    assert "cannot see a change as small as its tolerance" in verdict.warnings[0]


def test_a_tolerance_wide_of_the_noise_does_not_warn():
    assert _gate(0.002, 1e-4).warnings == []


@given(st.floats(0, 1), st.floats(0, 1), st.floats(1e-6, 1))
def test_warnings_follow_the_formulas(value, atol, stderr):
    room = tolerance(value, value + atol, LOWER)
    warning = noise_warning("m", value, value + atol, LOWER, stderr)
    if room < 2 * stderr:
        assert "will flap" in warning
    elif room < detectable_change(stderr):
        assert "cannot see" in warning
    else:
        assert warning is None


def test_an_absolute_limit_has_no_tolerance_to_warn_about_but_is_marked():
    verdict = gate("corpus_kld", {"kld_mean": 0.0099}, limits={"kld_mean": 0.01}, stderr={"kld_mean": 1e-3})
    assert verdict.warnings == [] and verdict.checks[0].within_noise and verdict.passed


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1e-3, None, "0.1"])
def test_a_bad_standard_error_warns_and_decides_nothing(bad):
    passing, failing = _gate(0.0029, bad), _gate(0.0031, bad)
    assert passing.passed and not failing.passed
    for verdict in (passing, failing):
        assert not verdict.checks[0].within_noise and verdict.checks[0].note == ""
        assert len(verdict.warnings) == 1 and "noise unknown" in verdict.warnings[0]


def test_a_missing_standard_error_means_no_noise_check():
    verdict = gate("corpus_kld", {"kld_mean": 0.0029}, baseline=_baseline(), stderr={})
    assert verdict.checks[0].stderr is None and not verdict.checks[0].within_noise and verdict.warnings == []
    assert "± SE" not in verdict.table()


def test_a_zero_standard_error_marks_nothing():
    verdict = _gate(0.003, 0.0)
    assert verdict.passed and not verdict.checks[0].within_noise and verdict.warnings == []


def test_a_non_finite_obtained_value_keeps_its_own_failure():
    check = _gate(math.nan, 1e-4).checks[0]
    assert not check.passed and check.note == "not a finite number" and not check.within_noise


@given(st.floats(-1, 1), st.floats(-1, 1), st.floats(0, 1))
def test_within_noise_is_two_ses_either_side(obtained, limit, stderr):
    assert within_noise(obtained, limit, stderr) == (stderr > 0 and abs(obtained - limit) <= 2 * stderr)


class _Result(ProbeResult):
    probe = "corpus-kld"
    more_data = "a larger corpus"

    def __init__(self, metrics, stderr):
        self.metrics, self._stderr = metrics, stderr
        self.ref = self.opt = ModelInfo("R", "sha256:ref", "hf")
        self.start_ids, self.start_source = [0], "bos"

    def uncertainty(self):
        return self._stderr


def test_evaluate_takes_the_standard_errors_from_the_result():
    verdict = evaluate(_Result({"kld_mean": 0.0029}, {"kld_mean": 1e-4}), "corpus_kld", _baseline())
    assert verdict.checks[0].within_noise
    assert "a larger corpus" in verdict.checks[0].note


def test_a_probe_without_uncertainty_gates_as_before():
    assert ProbeResult.uncertainty(SimpleNamespace()) == {}
    verdict = evaluate(_Result({"kld_mean": 0.0029}, {}), "corpus_kld", _baseline())
    assert verdict.passed and verdict.checks[0].stderr is None and verdict.checks[0].note == ""
