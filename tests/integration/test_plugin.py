"""The pytest plugin end to end (pytester), on real zoo models and real baselines."""
import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from tests.helpers import write_suite

pytestmark = pytest.mark.slow
PAIR = "zoo:tiny-code,zoo:tiny-code@onnx-int8"


def _run(pytester, *args):
    write_suite(pytester)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "--codeguard-baseline-dir", str(pytester.path / "bl"), *args)


def test_without_model_pair_a_shipped_suite_is_a_usage_error_not_a_green_skip(pytester):
    result = _run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*codeguard: 1 gate(s) collected but no --model-pair given, and "
                                 "*test_cold_start.py::test_cold_start_within_baseline requires a pair*"])


def test_missing_baseline_fails_with_the_candidates_metrics_and_the_command_that_accepts_them(pytester):
    result = _run(pytester, "--model-pair", PAIR)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*no baseline for suite 'cold_start' at *bl/zoo-tiny-code/cold_start.json*",
                                 "*metric*obtained*baseline*tolerance*limit*direction*verdict",
                                 "*kl_ref_opt*rtol 1.5, atol 0.0005*",
                                 f"    pytest *--model-pair {PAIR}*--codeguard-update"])


def test_update_accepts_the_candidate_and_the_next_run_passes(pytester):
    result = _run(pytester, "--model-pair", PAIR, "--codeguard-update")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*codeguard gate summary*", "cold_start: PASSED*",
                                 "*codeguard: wrote baseline *bl/zoo-tiny-code/cold_start.json",
                                 "    new baseline: * metric(s) recorded"])
    stored = json.loads((pytester.path / "bl/zoo-tiny-code/cold_start.json").read_text())
    assert stored["accepted"]["spec"] == "zoo:tiny-code@onnx-int8"
    assert stored["reference"]["fingerprint"].startswith("sha256:")
    assert stored["probe_config"]["start_ids"] == [0]
    assert stored["metrics"]["kl_ref_opt"]["direction"] == "lower_is_better"
    again = _run(pytester, "--model-pair", PAIR, "--junitxml", str(pytester.path / "junit.xml"))
    again.assert_outcomes(passed=1)
    again.stdout.fnmatch_lines(["codeguard 0.1.0: model-pair=zoo:tiny-code,zoo:tiny-code@onnx-int8*",
                                "*kl_ref_opt *<= * ?baseline?*ok"])
    assert 'name="codeguard.cold_start.kl_ref_opt"' in (pytester.path / "junit.xml").read_text()


def test_a_worse_candidate_fails_and_names_the_metric(pytester):
    _run(pytester, "--model-pair", PAIR, "--codeguard-update").assert_outcomes(passed=1)
    result = _run(pytester, "--model-pair", "zoo:tiny-code,zoo:tiny-code@int4-rtn")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*codeguard gate 'cold_start' failed for zoo:tiny-code@int4-rtn against "
                                 "zoo:tiny-code: *kl_ref_opt=*", "kl_ref_opt*FAIL", "what next:",
                                 "  - write a report with plots and the worst positions: add --codeguard-report DIR",
                                 "  - if the change is intended, accept this candidate: pytest *--codeguard-update*",
                                 "  - if the tolerance is wrong, edit rtol/atol of * in *bl/zoo-tiny-code/cold_start.json*"])


def test_corrupt_baseline_names_the_file(pytester):
    path = pytester.path / "bl/zoo-tiny-code/cold_start.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"schema_version": 1, "metrics": ')
    result = _run(pytester, "--model-pair", PAIR)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*baseline {path} is not valid JSON*"])


def test_baseline_of_another_reference_is_an_error(pytester):
    _run(pytester, "--model-pair", PAIR, "--codeguard-update").assert_outcomes(passed=1)
    path = pytester.path / "bl/zoo-tiny-code/cold_start.json"
    data = json.loads(path.read_text())
    data["reference"]["fingerprint"] = "sha256:0123"
    path.write_text(json.dumps(data))
    result = _run(pytester, "--model-pair", PAIR)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*was recorded for other weights of zoo:tiny-code: fingerprint sha256:0123*"])


def test_malformed_model_pair_is_a_usage_error(pytester):
    result = _run(pytester, "--model-pair", "zoo:tiny-code")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*codeguard: --model-pair 'zoo:tiny-code': expected exactly two specs*"])


def test_unloadable_model_fails_the_gate_with_the_spec_named(pytester, tmp_path):
    result = _run(pytester, "--model-pair", f"zoo:tiny-code,{tmp_path}/nowhere@onnx")
    result.assert_outcomes(errors=1)  # the model_pair fixture cannot be set up
    result.stdout.fnmatch_lines([f"*model spec '{tmp_path}/nowhere@onnx': path '{tmp_path}/nowhere' does not exist*"])


def test_nan_logits_fail_the_gate(pytester, zoo_copy):
    weights = load_file(zoo_copy / "model.safetensors")
    name = next(k for k in weights if k.endswith("layers.1.mlp.down_proj.weight"))
    weights[name][0, 0] = float("nan")
    save_file(weights, zoo_copy / "model.safetensors", metadata={"format": "pt"})
    _run(pytester, "--model-pair", PAIR, "--codeguard-update").assert_outcomes(passed=1)
    result = _run(pytester, "--model-pair", f"zoo:tiny-code,{zoo_copy}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*{zoo_copy} (torch) produced * non-finite logits*"])
    assert torch.isnan(weights[name]).any()


def test_update_refuses_several_xdist_workers(pytester):
    result = _run(pytester, "--model-pair", PAIR, "--codeguard-update", "-n", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--codeguard-update writes baselines and must run in one process*"])


def test_model_pair_from_ini_and_absolute_limits(pytester):
    pytester.makeini(f"[pytest]\ncodeguard_model_pair = {PAIR}\ncodeguard_limits =\n    js_divergence=1e-12\n")
    _run(pytester, "--codeguard-update").assert_outcomes(failed=1)  # never accept a candidate beyond a limit
    assert not (pytester.path / "bl/zoo-tiny-code/cold_start.json").exists()
    pytester.makeini(f"[pytest]\ncodeguard_model_pair = {PAIR}\n")
    _run(pytester, "--codeguard-update").assert_outcomes(passed=1)
    pytester.makeini(f"[pytest]\ncodeguard_model_pair = {PAIR}\ncodeguard_limits =\n    js_divergence=1e-12\n")
    result = _run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["js_divergence*<= 1e-12 ?limit?*FAIL"])


def test_rollouts_are_reported_in_the_summary(pytester):
    _run(pytester, "--model-pair", PAIR, "--codeguard-update").assert_outcomes(passed=1)
    result = _run(pytester, "--model-pair", PAIR, "--codeguard-rollouts", "4")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["cold-start rollouts of zoo:tiny-code (n=4, * distinct first tokens), first lines:",
                                 "cold-start rollouts of zoo:tiny-code@onnx-int8 (n=4, *"])


def test_a_bad_registry_file_is_a_usage_error_naming_it(pytester):
    bad = pytester.path / "ours.toml"
    bad.write_text("[languages.zig]\nname = 'Zig'\n")
    result = _run(pytester, "--model-pair", PAIR, "--codeguard-languages", str(bad))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{bad}: languages.zig*"])


def test_keyword_suite_uses_the_extended_registry(pytester):
    ours = pytester.path / "ours.toml"
    ours.write_text('[languages.zig]\nname = "Zig"\nextensions = [".zig"]\nkeywords.source = "Zig reference"\n'
                    'keywords.reserved = ["const", "fn", "pub", "comptime"]\n')
    pytester.makepyfile(test_zig="""
        def test_zig_mass(codeguard):
            result = codeguard.keyword_mass(languages=["zig", "python"])
            assert set(result.aggregates["ref"]["languages"]) == {"zig", "python"}
            assert result.metrics["pkp_rel_shift.zig"] >= 0
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--model-pair", PAIR,
                                           "--codeguard-languages", str(ours), "test_zig.py")
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize("value", ["1", "many"])
def test_bad_ctx_is_a_usage_error(pytester, value):
    result = _run(pytester, "--model-pair", PAIR, "--codeguard-ctx", value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--codeguard-ctx*{value}*"])
