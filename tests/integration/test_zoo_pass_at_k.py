"""The pass@k gate end to end on the zoo's HumanEval-trained pair: generation with both models, the sandbox, the
paired statistics and the committed baseline (baselines/zoo-tiny-code-he/pass_at_k.json accepts @onnx-int8, which
keeps the solutions; @int4-rtn and @int3-rtn lose them and fail)."""
import pytest

from tests.helpers import REPO

pytestmark = pytest.mark.slow


def _gate(pytester, opt):
    pytester.makeini("[pytest]\n")
    return pytester.runpytest_subprocess(str(REPO / "suites" / "test_pass_at_k.py"), "-p", "no:cacheprovider",
                                         "--rootdir", str(REPO), "--codeguard-baseline-dir", str(REPO / "baselines"),
                                         "--model-pair", f"zoo:tiny-code-he,{opt}")


def test_int8_keeps_the_memorised_solutions_and_passes(pytester):
    result = _gate(pytester, "zoo:tiny-code-he@onnx-int8")
    assert result.ret == 0
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["pass_at_k: PASSED*", "*pass@1 *0.985*"])


def test_four_bit_weights_lose_solutions_that_int8_keeps_and_the_gate_fails_on_pass_at_k(pytester):
    # The model was trained int8-aware (its rotary embedding as the int8 ONNX graph computes it, for part of the
    # batches) with label smoothing 0.25: @onnx-int8 keeps its solutions, 4-bit weights lose samples on many problems.
    result = _gate(pytester, "zoo:tiny-code-he@int4-rtn")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*codeguard gate 'pass_at_k' failed for zoo:tiny-code-he@int4-rtn against zoo:tiny-code-he*",
        "*pass@1: ref 0.990, opt 0.920*"])  # per-sample streams since batching across problems; was 0.8x
    result.stdout.fnmatch_lines(["  ci_high_delta_pass@1 *FAIL"])


def test_three_bit_weights_lose_solutions_and_the_gate_says_which_and_how_sure(pytester):
    result = _gate(pytester, "zoo:tiny-code-he@int3-rtn")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*codeguard gate 'pass_at_k' failed for zoo:tiny-code-he@int3-rtn against zoo:tiny-code-he*",
        "*pass@1: ref 0.990, opt 0.*, McNemar exact p = *",
        "*solved by ref, not by opt: HumanEval/*",
        "*smallest pass@1 drop this run can call significant: 0.125 (40 problems, alpha 0.05)*",
        "*sandbox: bubblewrap*"])
    result.stdout.fnmatch_lines(["  mcnemar_p@1 *FAIL"])
