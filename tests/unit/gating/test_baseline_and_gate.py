"""The baseline store and the gate arithmetic: directions, tolerances, NaN, bad files."""
import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codeguard.errors import BaselineError, ConfigError
from codeguard.gating.baselines import (
    Baseline,
    MetricBaseline,
    baseline_path,
    load_baseline,
    new_baseline,
    write_baseline,
)
from codeguard.gating.gate import check_reference, gate, parse_limits
from codeguard.gating.rules import COLD_START_RULES, HIGHER, LOWER

METRICS = {name: 0.5 for name in COLD_START_RULES}


def _baseline(tmp_path, **metrics):
    b = new_baseline("cold_start", {"spec": "zoo:tiny-code", "fingerprint": "sha256:ref"},
                     {"spec": "zoo:tiny-code@onnx-int8", "fingerprint": "sha256:opt"},
                     {"start_ids": [0]}, {**METRICS, **metrics}, None, "0.1.0")
    write_baseline(tmp_path / "b.json", b)
    return load_baseline(tmp_path / "b.json")


def test_roundtrip_is_sorted_rounded_and_keeps_tolerances(tmp_path):
    b = _baseline(tmp_path, kl_ref_opt=0.000123456789)
    text = (tmp_path / "b.json").read_text()
    assert text.endswith("}\n") and json.loads(text)["schema_version"] == 1
    assert list(json.loads(text)) == sorted(json.loads(text))
    assert b.metrics["kl_ref_opt"].value == 0.000123457
    b.metrics["kl_ref_opt"].atol = 0.5  # a reviewer loosened it
    accepted = new_baseline("cold_start", b.reference, b.accepted, b.probe_config, METRICS, b, "0.1.0")
    assert accepted.metrics["kl_ref_opt"].atol == 0.5


@given(st.floats(0, 10), st.floats(0, 2), st.floats(0, 1), st.floats(0, 20))
def test_lower_is_better_limit(value, rtol, atol, obtained):
    entry = MetricBaseline(value, LOWER, rtol, atol)
    b = Baseline("s", {"fingerprint": "x"}, {}, {}, {"kl_ref_opt": entry})
    verdict = gate("s", {"kl_ref_opt": obtained}, baseline=b)
    assert verdict.passed == (obtained <= value * (1 + rtol) + atol)


@given(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1))
def test_higher_is_better_limit(value, atol, obtained):
    b = Baseline("s", {"fingerprint": "x"}, {}, {}, {"topk_overlap_10": MetricBaseline(value, HIGHER, 0.0, atol)})
    assert gate("s", {"topk_overlap_10": obtained}, baseline=b).passed == (obtained >= value - atol)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, None])
def test_non_finite_or_missing_metric_fails_the_gate(tmp_path, bad):
    b = _baseline(tmp_path)
    metrics = {**METRICS, "kl_ref_opt": bad}
    if bad is None:
        del metrics["kl_ref_opt"]
    verdict = gate("cold_start", metrics, baseline=b)
    assert not verdict.passed
    assert [c.metric for c in verdict.failures] == ["kl_ref_opt"]
    assert "not a finite number" in verdict.message()


def test_failure_message_is_a_table_with_every_column(tmp_path):
    verdict = gate("cold_start", {**METRICS, "kl_ref_opt": 5.0}, baseline=_baseline(tmp_path),
                   ref_spec="R", opt_spec="O")
    message = verdict.message()
    assert message.startswith("codeguard gate 'cold_start' failed for O against R: kl_ref_opt=5")
    header = message.splitlines()[2]
    for column in ("metric", "obtained", "baseline", "limit", "direction", "verdict"):
        assert column in header
    assert "FAIL" in next(line for line in message.splitlines() if line.startswith("kl_ref_opt"))


def test_absolute_limits(tmp_path):
    assert parse_limits(["js_divergence=0.01", "topk_overlap_10 = 0.8"]) == {"js_divergence": 0.01,
                                                                            "topk_overlap_10": 0.8}
    assert not gate("cold_start", {"js_divergence": 0.02}, limits={"js_divergence": 0.01}).passed
    assert gate("cold_start", {"topk_overlap_10": 0.9}, limits={"topk_overlap_10": 0.8}).passed


@pytest.mark.parametrize("item, fragment", [("js_divergence", "expected METRIC=VALUE"),
                                            ("jsd=0.1", "unknown metric 'jsd'"),
                                            ("js_divergence=abc", "'abc' is not a number"),
                                            ("js_divergence=nan", "must be finite")])
def test_bad_limits(item, fragment):
    with pytest.raises(ConfigError, match=fragment):
        parse_limits([item])


def test_corrupt_json_names_the_file(tmp_path):
    path = tmp_path / "cold_start.json"
    path.write_text("{not json")
    with pytest.raises(BaselineError, match=f"baseline {path} is not valid JSON"):
        load_baseline(path)


@pytest.mark.parametrize("content, fragment", [
    ({"schema_version": 99}, "has schema_version 99"),
    ([1, 2], "has schema_version 'list'"),
    ({"schema_version": 1, "suite": "s"}, "lacks the key 'reference'"),
    ({"schema_version": 1, "suite": "s", "reference": {}, "accepted": {}, "probe_config": {}, "metrics": {}},
     "must hold the reference model's 'fingerprint'"),
    ({"schema_version": 1, "suite": "s", "reference": {"fingerprint": "x"}, "accepted": {}, "probe_config": {},
      "metrics": {"kl_ref_opt": {"value": "high"}}}, "metric 'kl_ref_opt' needs numeric"),
    ({"schema_version": 1, "suite": "s", "reference": {"fingerprint": "x"}, "accepted": {}, "probe_config": {},
      "metrics": {"kl_ref_opt": {"value": 1, "rtol": 0, "atol": 0, "direction": "up"}}}, "direction 'up'"),
])
def test_wrong_schema_names_the_file_and_key(tmp_path, content, fragment):
    path = tmp_path / "cold_start.json"
    path.write_text(json.dumps(content))
    with pytest.raises(BaselineError) as info:
        load_baseline(path)
    assert str(path) in str(info.value) and fragment in str(info.value)


def test_reference_fingerprint_mismatch_is_an_error_not_a_regression(tmp_path):
    b = _baseline(tmp_path)
    with pytest.raises(BaselineError, match="belongs to another reference model"):
        check_reference(b, "sha256:other", "zoo:tiny-code-python")
    check_reference(b, "sha256:ref", "zoo:tiny-code")


def test_baseline_paths_and_slots(tmp_path):
    assert baseline_path(tmp_path, "zoo-tiny-code", "cold_start") == tmp_path / "zoo-tiny-code/cold_start.json"
    assert baseline_path(tmp_path, "r", "cold_start", "edge-cpu").name == "cold_start.edge-cpu.json"
    with pytest.raises(ConfigError, match="slot '../x'"):
        baseline_path(tmp_path, "r", "cold_start", "../x")


def test_a_sampling_seed_is_recorded_not_compared_while_other_settings_must_match(tmp_path):
    """A pass@k baseline gates any seed (the verdict must hold across seeds), but not another sample size."""
    from codeguard.gating.gate import check_probe_config
    from codeguard.probes.pass_at_k import PassAtKResult

    b = Baseline("pass_at_k", {"fingerprint": "x"}, {}, {"seed": 0, "n_samples": 5}, {}, path=tmp_path / "b.json")
    check_probe_config(b, {"seed": 7, "n_samples": 5}, PassAtKResult.nuisance_config)
    with pytest.raises(BaselineError, match="n_samples=5.*n_samples=10"):
        check_probe_config(b, {"seed": 7, "n_samples": 10}, PassAtKResult.nuisance_config)
    with pytest.raises(BaselineError, match="seed=0.*seed=7"):
        check_probe_config(b, {"seed": 7, "n_samples": 5})  # a probe that declares no nuisance compares it


def test_min_context_must_match_even_against_baselines_older_than_the_option(tmp_path):
    """A corpus baseline accepted before min_context existed scored every position: it gates a run with 0 and
    refuses one with another value, as a baseline that records it does."""
    from codeguard.gating.gate import check_probe_config
    from codeguard.probes.corpus.kld import CorpusKLDResult

    older = Baseline("corpus_kld", {"fingerprint": "x"}, {}, {"ctx": 512, "corpus": "shipped"}, {},
                     path=tmp_path / "old.json")
    defaults = CorpusKLDResult.probe_config_defaults
    check_probe_config(older, {"ctx": 512, "corpus": "shipped", "min_context": 0}, frozenset(), defaults)
    with pytest.raises(BaselineError, match="min_context=0.*min_context=256"):
        check_probe_config(older, {"ctx": 512, "corpus": "shipped", "min_context": 256}, frozenset(), defaults)
    newer = Baseline("corpus_kld", {"fingerprint": "x"}, {}, {"ctx": 512, "corpus": "shipped", "min_context": 256},
                     {}, path=tmp_path / "new.json")
    check_probe_config(newer, {"ctx": 512, "corpus": "shipped", "min_context": 256}, frozenset(), defaults)
    with pytest.raises(BaselineError, match="min_context=256.*min_context=0"):
        check_probe_config(newer, {"ctx": 512, "corpus": "shipped", "min_context": 0}, frozenset(), defaults)
