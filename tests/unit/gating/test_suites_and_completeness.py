"""Declared suites, complete baselines, gates that check nothing, limit names, baseline folders and update summaries:
the rules that keep a gate from going green without gating."""
from pathlib import Path

import pytest

from codeguard.errors import BaselineError, ConfigError
from codeguard.gating.baselines import Baseline, MetricBaseline, metric_changes, new_baseline, reference_folder
from codeguard.gating.gate import GateVerdict, check_complete, gate, parse_limits
from codeguard.gating.rules import LOWER, SUITE_RULES, MetricRule, metric_problem, register_suite, rules_for
from codeguard.models.specs import parse_spec

LANGUAGES = ["python", "rust", "go"]


@pytest.fixture
def declared():
    """Suites declared by a test are forgotten afterwards."""
    before = dict(SUITE_RULES)
    yield
    SUITE_RULES.clear()
    SUITE_RULES.update(before)


def test_an_undeclared_suite_is_an_error_with_the_nearest_name():
    with pytest.raises(ConfigError, match=r"unknown suite 'cold_start_gpu' \(did you mean cold_start\?\).*"
                                          r"register_suite"):
        rules_for("cold_start_gpu")


def test_a_declared_suite_has_rules_and_gates_like_a_built_in_one(declared):
    register_suite("my_suite", {"kl_ref_opt": MetricRule(LOWER, 0.0, 0.01, "tight")})
    baseline = new_baseline("my_suite", {"fingerprint": "r"}, {"spec": "o"}, {}, {"kl_ref_opt": 0.0, "other": 1.0},
                            None, "0")
    assert set(baseline.metrics) == {"kl_ref_opt"}
    verdict = gate("my_suite", {"kl_ref_opt": 0.02}, baseline=baseline)
    assert not verdict.passed and verdict.failures[0].metric == "kl_ref_opt"


@pytest.mark.parametrize("name, rules, message", [
    ("Bad Name", {"x": MetricRule(LOWER, 0, 0, "")}, "use lower-case letters"),
    ("empty", {}, "declare at least one metric rule"),
    ("wrong_type", {"x": (LOWER, 0, 0)}, "expected a MetricRule"),
    ("bad_direction", {"x": MetricRule("down", 0, 0, "")}, "direction 'down'"),
    ("negative", {"x": MetricRule(LOWER, -1, 0, "")}, "rtol and atol must be finite and >= 0"),
    ("cold_start", {"x": MetricRule(LOWER, 0, 0, "")}, "is a built-in suite"),
])
def test_bad_suite_declarations_name_the_problem(declared, name, rules, message):
    with pytest.raises(ConfigError, match=message):
        register_suite(name, rules)


def test_a_gate_that_checked_nothing_never_passes():
    verdict = gate("cold_start", {"kl_ref_opt": 0.0})
    assert verdict.checks == [] and not verdict.passed
    assert "checked nothing" in verdict.message() and "never passes" in GateVerdict("x").message()


def _baseline(metrics, not_gated=None):
    return Baseline("cold_start", {"fingerprint": "r", "spec": "ref"}, {"spec": "opt"}, {},
                    {m: MetricBaseline(0.0, LOWER, 1.0, 0.1) for m in metrics}, path=Path("bl/cold_start.json"),
                    not_gated=not_gated or {})


def test_a_baseline_missing_a_gated_metric_is_refused_by_file_and_name():
    result = {"kl_ref_opt": 0.1, "js_divergence": 0.1, "top1_agree": 1.0}  # top1_agree: reported, not gated
    with pytest.raises(BaselineError, match=r"bl/cold_start.json lacks 1 metric\(s\) that suite 'cold_start' "
                                            r"gates: js_divergence.*not_gated"):
        check_complete(_baseline(["kl_ref_opt"]), "cold_start", result)
    check_complete(_baseline(["kl_ref_opt"], {"js_divergence": "reviewed: noisy"}), "cold_start", result)
    check_complete(_baseline(["kl_ref_opt", "js_divergence"]), "cold_start", result)


@pytest.mark.parametrize("name, expected", [
    ("pkp_rel_shift.pyhton", "'pyhton' is not a registry language); did you mean pkp_rel_shift.python"),
    ("kl_ref_op", "no declared suite gates it); did you mean kl_ref_opt"),
    ("pass@five", "'five' is not a whole k >= 1"),
])
def test_misspelt_metric_names_are_explained_with_the_nearest_names(name, expected):
    assert expected in metric_problem(name, LANGUAGES)
    with pytest.raises(ConfigError, match="unknown metric"):
        parse_limits([f"{name}=0.1"], LANGUAGES)


@pytest.mark.parametrize("name", ["pkp_rel_shift.python", "kl_ref_opt", "pass@5", "mean_abs_dlogp.go"])
def test_real_metric_names_are_accepted(name):
    assert metric_problem(name, LANGUAGES) is None
    assert parse_limits([f"{name}=0.5"], LANGUAGES) == {name: 0.5}


def test_reference_folders_are_unique_per_reference(tmp_path):
    project = tmp_path / "project"
    assert reference_folder(parse_spec("zoo:tiny-code"), project) == "zoo-tiny-code"  # the committed ones keep
    inside = reference_folder(parse_spec(str(project / "models" / "ref")), project)
    assert inside == "models-ref"
    assert reference_folder(parse_spec(str(project / "models" / "ref") + "@fp16"), project) == "models-ref-fp16"
    a = reference_folder(parse_spec(str(tmp_path / "a" / "model")), project)
    b = reference_folder(parse_spec(str(tmp_path / "b" / "model")), project)
    assert a != b and a.startswith("model-") and b.startswith("model-")


def test_an_update_summary_lists_changed_metrics_old_to_new():
    old = _baseline(["kl_ref_opt", "js_divergence", "total_variation"])
    new = _baseline(["kl_ref_opt", "js_divergence", "entropy_delta"])
    new.metrics["kl_ref_opt"] = MetricBaseline(0.5, LOWER, 1.0, 0.1)
    new.metrics["entropy_delta"] = MetricBaseline(0.25, LOWER, 1.0, 0.1)
    text = metric_changes(old, new)
    assert text.splitlines() == ["accepted opt", "+ entropy_delta: 0.25 (new)", "~ kl_ref_opt: 0 -> 0.5",
                                 "- total_variation: 0 (no longer gated)", "1 metric(s) unchanged"]
    assert metric_changes(None, new) == "new baseline: 3 metric(s) recorded"
