"""The pass@k probe's scoring and gating, on executed-sample records (the sandbox and generation have their own
tests; the zoo gate tests run the whole thing on real models)."""
from types import SimpleNamespace

import numpy as np
import pytest

from codeguard.errors import ProbeInputError
from codeguard.gating.baselines import new_baseline
from codeguard.gating.gate import gate
from codeguard.humaneval.estimator import mean_pass_at_k
from codeguard.humaneval.problems import Problem, ProblemSet
from codeguard.probes.pass_at_k import PassAtKConfig, summarize

REF = SimpleNamespace(spec="ref-model", fingerprint="sha256:r", backend="torch")
OPT = SimpleNamespace(spec="opt-model", fingerprint="sha256:o", backend="onnxruntime")


def problem_set(count):
    return ProblemSet(f"synthetic:{count}", tuple(Problem(f"T/{i}", "def f():\n", "f", "def check(c): pass\n")
                                                  for i in range(count)))


def samples(correct_counts, n):
    return {f"T/{i}": [{"completion": "", "verdict": "passed" if j < c else "failed", "detail": ""}
                       for j in range(n)] for i, c in enumerate(correct_counts)}


def result_for(ref_correct, opt_correct, n=5, ks=(1, 5), **config):
    config = PassAtKConfig(n_samples=n, ks=ks, **config)
    return summarize(REF, OPT, config, problem_set(len(ref_correct)),
                     {"ref": samples(ref_correct, n), "opt": samples(opt_correct, n)}, "test isolation")


def test_metrics_are_the_unbiased_estimates_and_their_paired_difference():
    ref, opt = [5, 4, 3, 0, 2], [5, 2, 3, 0, 0]
    result = result_for(ref, opt)
    for k in (1, 5):
        assert result.metrics[f"pass@{k}"] == pytest.approx(mean_pass_at_k(opt, 5, k))
        assert result.metrics[f"ref_pass@{k}"] == pytest.approx(mean_pass_at_k(ref, 5, k))
        assert result.metrics[f"delta_pass@{k}"] == pytest.approx(mean_pass_at_k(opt, 5, k) - mean_pass_at_k(ref, 5, k))
    assert result.per_problem[1] == {"task_id": "T/1", "ref_correct": 4, "opt_correct": 2}
    assert result.verdict_counts == {"ref": {"failed": 11, "passed": 14}, "opt": {"failed": 15, "passed": 10}}


def test_ks_beyond_n_are_dropped_and_none_left_is_an_error():
    assert PassAtKConfig(n_samples=3, ks=(1, 5, 10)).resolved_ks() == (1,)
    with pytest.raises(ProbeInputError, match="no k in \\[5\\] fits n_samples=3"):
        PassAtKConfig(n_samples=3, ks=(5,)).check()


def test_a_significant_paired_drop_fails_even_without_a_baseline_and_the_message_says_how_blind_the_gate_is():
    result = result_for([5] * 30 + [0] * 10, [0] * 12 + [5] * 18 + [0] * 10)
    verdict = gate("pass_at_k", result.gate_metrics(), limits=result.built_in_limits())
    assert {c.metric for c in verdict.failures} == {"mcnemar_p@1", "ci_high_delta_pass@1", "ci_high_delta_pass@5"}
    message = verdict.message() + "\n" + "\n".join(result.gate_notes())
    assert "solved by ref, not by opt: T/0, T/1" in message
    assert "smallest pass@1 drop this run can call significant: 0.125 (40 problems, alpha 0.05)" in message


def test_a_small_drop_passes_the_paired_checks_but_the_baseline_catches_a_large_one():
    baseline_result = result_for([3] * 20, [3] * 20)
    baseline = new_baseline("pass_at_k", {"spec": "ref-model", "fingerprint": "sha256:r"},
                            {"spec": "opt-model", "fingerprint": "sha256:o"}, baseline_result.probe_config(),
                            baseline_result.gate_metrics(), None, "test")
    assert set(baseline.metrics) == {"pass@1", "pass@5", "delta_pass@1", "delta_pass@5"}  # no p-values stored
    slightly_worse = result_for([3] * 20, [3] * 19 + [2])
    assert gate("pass_at_k", slightly_worse.gate_metrics(), baseline, slightly_worse.built_in_limits()).passed
    much_worse = result_for([3] * 20, [1] * 20)
    failed = {c.metric for c in gate("pass_at_k", much_worse.gate_metrics(), baseline,
                                     much_worse.built_in_limits()).failures}
    assert {"pass@1", "delta_pass@1"} <= failed


def test_probe_config_pins_what_makes_runs_comparable():
    config = result_for([1], [1]).probe_config()
    assert config["problems"] == "humaneval:40" and config["n_samples"] == 5 and config["ks"] == [1, 5]
    assert {"temperature", "top_p", "max_new_tokens", "seed", "problems_sha256"} <= set(config)


def test_a_reference_that_solves_nothing_makes_the_gate_say_it_is_blind():
    assert "pass@k gate is blind: ref-model solves none of the 3 problems" in result_for([0, 0, 0], [0, 0, 0]).warnings()[0]
    assert result_for([0, 1, 0], [0, 0, 0]).warnings() == []


def _paired_failures(result):
    return {c.metric for c in gate("pass_at_k", result.gate_metrics(), limits=result.built_in_limits()).failures
            if c.metric.startswith("ci_high")}


def test_a_drop_within_the_margin_passes_on_any_luck_and_a_drop_beyond_it_fails():
    """Non-inferiority: a candidate losing one sample on 4 of 40 problems (Δpass@1 -0.02, an interval that just
    misses 0) passes at δ 0.03 but failed the old `interval reaches 0` check; losing 3 samples on 10 problems does
    not pass."""
    ref = [5] * 40
    tiny_drop = result_for(ref, [4] * 4 + [5] * 36, margin=0.03)
    assert tiny_drop.comparisons["1"]["ci_high"] < 0  # what flapped before
    assert _paired_failures(tiny_drop) == set()
    assert _paired_failures(result_for(ref, [4] * 4 + [5] * 36, margin=0.0)) == {"ci_high_delta_pass@1"}
    assert "ci_high_delta_pass@1" in _paired_failures(result_for(ref, [2] * 10 + [5] * 30, margin=0.03))


def test_a_verdict_the_interval_cannot_settle_is_reported_as_within_noise():
    result = result_for([5] * 40, [4] * 6 + [5] * 34, margin=0.03)
    low, high = result.comparisons["1"]["ci_low"], result.comparisons["1"]["ci_high"]
    assert low < -0.03 <= high
    notes = "\n".join(result.gate_notes())
    assert "pass@1's paired check passes, but within noise of its limit" in notes
    assert "non-inferiority margin 0.03" in notes
    assert "within noise" not in "\n".join(result_for([5] * 40, [5] * 40).gate_notes())


@pytest.mark.parametrize("margin", [-0.01, 1.0, float("nan")])
def test_a_margin_outside_0_1_is_refused(margin):
    with pytest.raises(ProbeInputError, match="margin"):
        PassAtKConfig(margin=margin).check()


def test_pass_at_k_reports_its_standard_errors_over_problems_and_the_gate_uses_them():
    result = result_for([5] * 20 + [3] * 20, [5] * 20 + [2] * 20)
    errors = result.uncertainty()
    assert set(errors) == {"pass@1", "pass@5", "delta_pass@1", "delta_pass@5"}
    per_problem = np.array([1.0] * 20 + [0.4] * 20)
    assert errors["pass@1"] == pytest.approx(per_problem.std(ddof=1) / np.sqrt(40))
    assert errors["delta_pass@1"] == pytest.approx(np.array([0.0] * 20 + [-0.2] * 20).std(ddof=1) / np.sqrt(40))
    assert result_for([5], [4]).uncertainty() == {}  # one problem: no spread to estimate
    assert "more samples" in result.more_data
