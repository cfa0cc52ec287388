"""GGUF candidates through the real gates: llama.cpp's q8_0 of the zoo model passes the committed baselines, q2_k fails.

The baselines in baselines/zoo-tiny-code/ accept zoo:tiny-code@onnx-int8 (PyTorch reference, ONNX Runtime int8
candidate); nothing in them knows about GGUF. These tests run `pytest suites --model-pair ...` on the distribution
suites with a llama.cpp candidate, as a user's CI job gating a GGUF file would. The derivations are built once per
cache (conversion takes seconds) and then reused.
"""
import pytest

from tests.helpers import REPO

pytest.importorskip("llama_cpp", reason="the gguf extra (llama-cpp-python) is not installed")

pytestmark = pytest.mark.slow

DISTRIBUTION_SUITES = [str(REPO / "suites" / f"test_{name}.py")
                       for name in ("cold_start", "keyword_mass", "corpus_kld", "keyword_shift")]


def _gate(pytester, monkeypatch, opt):
    monkeypatch.setenv("CODEGUARD_GGUF_THREADS", "1")  # the subprocess scores on one core: CI machines are shared
    pytester.makeini("[pytest]\n")
    return pytester.runpytest_subprocess(*DISTRIBUTION_SUITES, "-p", "no:cacheprovider", "--rootdir", str(REPO),
                                         "--codeguard-baseline-dir", str(REPO / "baselines"),
                                         "--model-pair", f"zoo:tiny-code,{opt}")


# Each at least 1.2x past its limit on q2_k (measured: kl_ref_opt 0.0086 vs limit 0.0016, stp_abs_shift 0.038 vs
# 0.0089, kld_mean 0.0098 vs 0.0057, same_top_p 0.908 vs >= 0.937, mean_abs_dlogp 0.106 vs 0.085); llama.cpp's CPU
# results repeat exactly, so these are not near-ties.
FAILING_METRICS = ("kl_ref_opt", "js_divergence", "total_variation", "entropy_delta", "stp_abs_shift",
                   "pkp_rel_shift", "pkp_rel_shift.ruby", "nlp_abs_shift", "kld_mean", "kld_mean.python", "kld_p99",
                   "same_top_p", "same_top_p.go", "mean_abs_dlogp", "mean_abs_dlogp.rust")


def test_q8_0_passes_every_distribution_gate(pytester, monkeypatch):
    result = _gate(pytester, monkeypatch, "zoo:tiny-code@gguf-q8_0")
    assert result.ret == 0
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines([
        "cold_start: PASSED  (zoo:tiny-code@gguf-q8_0 vs zoo:tiny-code; baseline *cold_start.json)",
        "keyword_mass: PASSED*", "corpus_kld: PASSED*", "keyword_shift: PASSED*"])
    result.stdout.no_fnmatch_line("* FAIL*")


def test_q2_k_fails_and_names_the_metrics_that_broke(pytester, monkeypatch):
    result = _gate(pytester, monkeypatch, "zoo:tiny-code@gguf-q2_k")
    assert result.ret == 1
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines(["*codeguard gate 'cold_start' failed for zoo:tiny-code@gguf-q2_k against "
                                 "zoo:tiny-code: *"])
    result.stdout.fnmatch_lines([
        "cold_start: FAILED  (zoo:tiny-code@gguf-q2_k vs zoo:tiny-code; baseline *cold_start.json)",
        "keyword_mass: FAILED*", "corpus_kld: FAILED*", "keyword_shift: FAILED*"])
    for metric in FAILING_METRICS:
        result.stdout.fnmatch_lines([f"  {metric} *FAIL"])
    # perplexity barely moves (ratio 1.007), yet beyond the accepted int8 model's calibrated room (limit 1.004)
    result.stdout.fnmatch_lines(["  ppl_ratio *FAIL*"])
