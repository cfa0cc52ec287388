"""A gate must never go green without gating (issue: six ways it did). Each test reproduces one way through the real
plugin (pytester subprocesses on the zoo) and checks that the run now fails, with a message naming the culprit."""
import json
import shutil

import pytest

from codeguard.models.zoo import zoo_path
from tests.helpers import REPO, write_suite

pytestmark = pytest.mark.slow
PAIR = "zoo:tiny-code,zoo:tiny-code@onnx-int8"
OWN_TEST = """
def test_own_gate(codeguard):
    codeguard.check(codeguard.cold_start())
"""


def _run(pytester, *args, baselines="bl"):
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "--codeguard-baseline-dir",
                                         str(pytester.path / baselines), *args)


# 1. An empty --model-pair (an unset CI variable) or none at all

@pytest.mark.parametrize("how", ["option", "environment"])
def test_an_empty_model_pair_is_a_usage_error(pytester, monkeypatch, how):
    write_suite(pytester)
    if how == "option":
        result = _run(pytester, "--model-pair", "")
    else:
        monkeypatch.setenv("CODEGUARD_MODEL_PAIR", "")
        result = _run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    where = "--model-pair" if how == "option" else "CODEGUARD_MODEL_PAIR"
    result.stderr.fnmatch_lines([f"*codeguard: {where} is empty (an unset CI variable?): give REF,OPT*"])


def test_without_a_pair_a_users_own_gate_is_skipped_and_the_summary_says_no_gate_ran(pytester):
    pytester.makepyfile(test_own=OWN_TEST)
    result = _run(pytester, "-rs")
    assert result.ret == pytest.ExitCode.OK  # the plugin may live in a repository that runs other tests
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*codeguard gate summary*",
                                 "codeguard: no gate ran: no --model-pair given (1 gate(s) skipped; set "
                                 "codeguard_required = true*",
                                 "SKIPPED *: codeguard: no --model-pair given"])


def test_codeguard_required_turns_a_missing_pair_into_a_failure(pytester):
    pytester.makeini("[pytest]\ncodeguard_required = true\n")
    pytester.makepyfile(test_own=OWN_TEST)
    result = _run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*1 gate(s) collected but no --model-pair given, and codeguard_required is set*"])


# 2. A baseline whose metrics were deleted

@pytest.mark.parametrize("keep", [0, 3])
def test_a_baseline_with_deleted_metrics_fails_and_names_file_and_metrics(pytester, keep):
    write_suite(pytester)
    _run(pytester, "--model-pair", PAIR, "--codeguard-update").assert_outcomes(passed=1)
    path = pytester.path / "bl/zoo-tiny-code/cold_start.json"
    data = json.loads(path.read_text())
    data["metrics"] = dict(sorted(data["metrics"].items())[:keep])
    path.write_text(json.dumps(data))
    result = _run(pytester, "--model-pair", "zoo:tiny-code,zoo:tiny-code@int4-rtn")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*baseline {path} lacks * metric(s) that suite 'cold_start' gates: *kl_ref_opt*"
                                 "accept the candidate again with --codeguard-update*not_gated*"])


def test_a_metric_a_reviewer_marks_not_gated_is_skipped_by_name_and_the_rest_still_gate(pytester):
    write_suite(pytester)
    _run(pytester, "--model-pair", PAIR, "--codeguard-update").assert_outcomes(passed=1)
    path = pytester.path / "bl/zoo-tiny-code/cold_start.json"
    data = json.loads(path.read_text())
    del data["metrics"]["spearman_top100"]
    data["not_gated"] = {"spearman_top100": "rank noise of a 5 M model's flat tail"}
    path.write_text(json.dumps(data))
    _run(pytester, "--model-pair", PAIR).assert_outcomes(passed=1)
    result = _run(pytester, "--model-pair", "zoo:tiny-code,zoo:tiny-code@int4-rtn")
    result.assert_outcomes(failed=1)
    assert "spearman_top100" not in result.stdout.str()  # neither checked nor shown: the reviewer switched it off


# 3. A suite name nobody declared; a custom suite that gates like a built-in one

def test_an_undeclared_suite_is_an_error_not_an_empty_gate(pytester):
    pytester.makepyfile(test_gpu="""
        def test_gpu(codeguard):
            codeguard.check(codeguard.cold_start(), suite="cold_start_gpu")
    """)
    result = _run(pytester, "--model-pair", PAIR, "--codeguard-update")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*unknown suite 'cold_start_gpu' (did you mean cold_start?)*register_suite*"])
    assert not (pytester.path / "bl").exists()


def test_a_declared_custom_suite_gates_exactly_like_a_built_in_one_and_fails(pytester):
    pytester.makeconftest("""
        from codeguard.gating.rules import LOWER, MetricRule, register_suite

        register_suite("cold_start_strict", {"kl_ref_opt": MetricRule(LOWER, 0.0, 1e-6, "first-token KL, tight")})
    """)
    pytester.makepyfile(test_strict="""
        def test_strict(codeguard):
            codeguard.check(codeguard.cold_start(), suite="cold_start_strict")
    """)
    _run(pytester, "--model-pair", "zoo:tiny-code,zoo:tiny-code", "--codeguard-update").assert_outcomes(passed=1)
    stored = json.loads((pytester.path / "bl/zoo-tiny-code/cold_start_strict.json").read_text())
    assert stored["suite"] == "cold_start_strict" and set(stored["metrics"]) == {"kl_ref_opt"}
    assert stored["metrics"]["kl_ref_opt"]["atol"] == 1e-6
    _run(pytester, "--model-pair", "zoo:tiny-code,zoo:tiny-code").assert_outcomes(passed=1)
    result = _run(pytester, "--model-pair", PAIR)  # int8's first-token KL (~1e-3) is far above 1e-6
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*codeguard gate 'cold_start_strict' failed for zoo:tiny-code@onnx-int8*",
                                 "kl_ref_opt*<= 1e-06 ?baseline?*FAIL"])


# 4. A problems file whose tests cannot pass on their own

def test_a_problem_whose_test_does_not_compile_is_refused_before_any_model_loads(pytester):
    problems = pytester.path / "problems.jsonl"
    good = {"task_id": "own/0", "prompt": "def inc(x):\n", "entry_point": "inc",
            "canonical_solution": "    return x + 1\n", "test": "def check(f):\n    assert f(1) == 2\n"}
    broken = {**good, "task_id": "own/1", "test": "def check(f):\n    assert f(1) == = 2\n"}
    problems.write_text("\n".join(json.dumps(p) for p in (good, broken)) + "\n")
    pytester.makepyfile(test_pass_at_k=(REPO / "suites" / "test_pass_at_k.py").read_text())
    result = _run(pytester, "--model-pair", "zoo:tiny-code-he,/nowhere/never-loaded", "--codeguard-problems",
                  str(problems), "--codeguard-update")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*problem set * 1 problem(s) refused before any model loads*",
                                 "*own/1: its test does not compile (SyntaxError*"])
    assert "does not exist" not in result.stdout.str()  # the (missing) candidate was never loaded
    assert not (pytester.path / "bl").exists()


def test_a_canonical_solution_that_fails_its_own_test_is_refused_by_name(pytester):
    problems = pytester.path / "problems.jsonl"
    wrong = {"task_id": "own/7", "prompt": "def inc(x):\n", "entry_point": "inc",
             "canonical_solution": "    return x + 2\n", "test": "def check(f):\n    assert f(1) == 2\n"}
    problems.write_text(json.dumps(wrong) + "\n")
    pytester.makepyfile(test_pass_at_k=(REPO / "suites" / "test_pass_at_k.py").read_text())
    result = _run(pytester, "--model-pair", "zoo:tiny-code-he,/nowhere/never-loaded", "--codeguard-problems",
                  str(problems))
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*own/7: its canonical solution does not pass its own test (failed*"])


# 5. Two references with the same folder name

def test_references_with_the_same_folder_name_get_their_own_baselines(pytester):
    for parent in ("a", "b"):
        shutil.copytree(zoo_path("tiny-code"), pytester.path / parent / "model")
    write_suite(pytester)
    first = _run(pytester, "--model-pair", "a/model,a/model@bf16", "--codeguard-update")
    first.assert_outcomes(passed=1)
    second = _run(pytester, "--model-pair", "b/model,b/model@bf16", "--codeguard-update")
    second.assert_outcomes(passed=1)
    folders = sorted(p.name for p in (pytester.path / "bl").iterdir())
    assert folders == ["a-model", "b-model"]
    for parent in ("a", "b"):
        stored = json.loads((pytester.path / "bl" / f"{parent}-model" / "cold_start.json").read_text())
        assert stored["reference"]["spec"] == f"{parent}/model"


def test_a_baseline_of_another_reference_is_never_overwritten_and_never_advises_an_update(pytester):
    write_suite(pytester)
    shutil.copytree(zoo_path("tiny-code"), pytester.path / "model")
    _run(pytester, "--model-pair", "model,model@bf16", "--codeguard-update").assert_outcomes(passed=1)
    path = pytester.path / "bl/model/cold_start.json"
    data = json.loads(path.read_text())
    data["reference"] = {"spec": "elsewhere/model", "fingerprint": "sha256:0123"}
    path.write_text(json.dumps(data))
    result = _run(pytester, "--model-pair", "model,model@bf16")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*belongs to another reference model: it was recorded for elsewhere/model*"
                                 "Do not accept with --codeguard-update here*"])
    update = _run(pytester, "--model-pair", "model,model@bf16", "--codeguard-update")
    update.assert_outcomes(failed=1)
    update.stdout.fnmatch_lines(["*refusing to overwrite *cold_start.json: it is the baseline of reference "
                                 "elsewhere/model*"])
    assert json.loads(path.read_text())["reference"]["spec"] == "elsewhere/model"


# 6. Without an ini file, an option value given with a space must not move the baselines

def test_baselines_stay_beside_the_invocation_folder_when_an_option_value_is_an_absolute_path(pytester, tmp_path):
    write_suite(pytester)
    report = tmp_path / "elsewhere" / "report"
    report.mkdir(parents=True)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--model-pair", PAIR, "--codeguard-update",
                                           "--codeguard-report", str(report))
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"codeguard *baselines={pytester.path / 'baselines'} *"])
    assert (pytester.path / "baselines/zoo-tiny-code/cold_start.json").is_file()
    assert not (report.parent / "baselines").exists()


# --codeguard-limit with a typo

def test_a_limit_on_a_misspelt_metric_is_a_usage_error_with_the_nearest_names(pytester):
    write_suite(pytester)
    result = _run(pytester, "--model-pair", PAIR, "--codeguard-limit", "pkp_rel_shift.pyhton=0.05")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*limit 'pkp_rel_shift.pyhton=0.05': unknown metric 'pkp_rel_shift.pyhton' "
                                 "('pyhton' is not a registry language); did you mean pkp_rel_shift.python*"])
