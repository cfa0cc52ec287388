"""One-line metric conditions (`assert_metrics`): parsing, directions, strictness, NaN, unknown names, labels."""
import math
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from codeguard import assert_metrics
from codeguard.errors import ApproximateSourceError, ConfigError
from codeguard.gating.conditions import conditions_verdict, metric_values, parse_condition
from codeguard.probes.result import ModelInfo, ProbeResult

REF = ModelInfo("./models/ref", "sha256:ref", "torch")
OPT = ModelInfo("./models/ref@onnx-int8", "sha256:opt", "onnx")


@dataclass
class FakeKeywordMass(ProbeResult):
    """A keyword-mass-shaped result: flat gated metrics with per-language names, and per-language details."""
    probe = "keyword-mass"
    ref: ModelInfo = field(default_factory=lambda: REF)
    opt: ModelInfo = field(default_factory=lambda: OPT)
    metrics: dict = field(default_factory=lambda: {"pkp_rel_shift": 0.01, "pkp_rel_shift.python": 0.03,
                                                   "pkp_rel_shift.rust": 0.2, "stp_abs_shift": 0.004})
    per_language: dict = field(default_factory=lambda: {"python": {"pkp_ref": 0.31, "top": ["def"]}})


def test_one_line_conditions_pass_and_return_a_labelled_verdict():
    verdict = assert_metrics(FakeKeywordMass(), "pkp_rel_shift.python <= 0.05", "stp_abs_shift<0.01",
                             suite="python_keywords")
    assert verdict.passed and verdict.suite == "python_keywords"
    assert [c.metric for c in verdict.checks] == ["pkp_rel_shift.python", "stp_abs_shift"]
    assert (verdict.ref_spec, verdict.opt_spec) == (REF.spec, OPT.spec)


def test_a_failing_condition_raises_the_metric_table():
    with pytest.raises(AssertionError) as info:
        assert_metrics(FakeKeywordMass(), "pkp_rel_shift.python <= 0.05", "pkp_rel_shift.rust <= 0.05")
    message = str(info.value)
    assert "codeguard gate 'keyword_mass' failed for ./models/ref@onnx-int8" in message
    assert "pkp_rel_shift.rust=0.2" in message and "<= 0.05 [limit]" in message
    assert "pkp_rel_shift.python" in message  # the passing row is shown for context


def test_the_operator_gives_the_direction_and_strictness():
    result = {"top1_agree": 0.9, "kl": 0.01}
    assert conditions_verdict(result, ["top1_agree >= 0.9", "kl <= 0.01"]).passed
    strict = conditions_verdict(result, ["top1_agree > 0.9", "kl < 0.01"])
    assert not strict.passed and [c.direction for c in strict.checks] == ["higher_is_better", "lower_is_better"]
    assert all("is strict" in c.note for c in strict.checks)


@given(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6), st.sampled_from(["<=", "<", ">=", ">"]))
def test_a_condition_holds_exactly_when_python_says_so(value, limit, op):
    verdict = conditions_verdict({"m": value}, [f"m {op} {limit!r}"])
    assert verdict.passed == eval(f"{value!r} {op} {limit!r}")  # noqa: S307 (two floats and an operator)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), None, np.float32("nan")])
def test_nan_inf_or_missing_values_fail_whatever_the_operator(value):
    for condition in ("m <= 1e9", "m >= -1e9"):
        verdict = conditions_verdict({"m": value}, [condition])
        assert not verdict.passed and verdict.checks[0].note == "not a finite number"


def test_an_unknown_metric_names_it_and_the_nearest_known_ones():
    with pytest.raises(ConfigError) as info:
        assert_metrics(FakeKeywordMass(), "pkp_rel_shift.pyhton <= 0.05")
    message = str(info.value)
    assert "'pkp_rel_shift.pyhton'" in message and "keyword-mass result" in message
    assert "nearest: pkp_rel_shift.python" in message
    with pytest.raises(ConfigError, match="it has: pkp_ref.python, pkp_rel_shift"):
        assert_metrics(FakeKeywordMass(), "zzz <= 1")


@pytest.mark.parametrize("condition, says", [
    ("kl_ref_opt 0.01", "does not parse"), ("kl_ref_opt <= ", "does not parse"), ("<= 0.01", "does not parse"),
    ("kl_ref_opt == 0.01", "equality"), ("kl_ref_opt = 0.01", "equality"),
    ("kl_ref_opt <= abc", "'abc' is not a number"),
    ("kl_ref_opt <= nan", "finite"), ("kl_ref_opt <= inf", "finite"), ("kl_ref_opt <= 0.01 and x", "does not parse"),
])
def test_a_malformed_condition_is_an_error_quoting_it(condition, says):
    with pytest.raises(ConfigError) as info:
        parse_condition(condition)
    assert repr(condition) in str(info.value) and says in str(info.value)
    if says in ("does not parse", "equality"):
        assert "<=, <, >=" in str(info.value)  # the message says what would parse


def test_no_condition_or_a_non_string_is_an_error():
    with pytest.raises(ConfigError, match="no condition given"):
        assert_metrics(FakeKeywordMass())
    with pytest.raises(ConfigError, match="expected a string"):
        assert_metrics(FakeKeywordMass(), ("kl", "<", 1))


def test_metric_values_flatten_every_number_the_result_reports():
    values = metric_values(FakeKeywordMass())
    assert values["pkp_rel_shift.rust"] == 0.2 and values["pkp_ref.python"] == 0.31
    assert "top.python" not in values  # a list is not a metric
    assert math.isclose(parse_condition(" pass@1>=0.5 ").limit, 0.5)  # pass@k names parse


def test_conditions_on_a_served_models_approximate_metrics_are_refused():
    served = FakeKeywordMass(opt=ModelInfo("openai:http://x/v1#m", "sha256:o", "openai", approximate=True))
    with pytest.raises(ApproximateSourceError, match="pkp_rel_shift.python refused: openai:http://x/v1#m"):
        assert_metrics(served, "pkp_rel_shift.python <= 0.05")
