"""`codeguard.calibrate` without models: which runs a machine gets, and every refusal, with the real gate runs
replaced by recorded outcomes (tests/integration/test_calibrate.py runs them for real)."""
import shutil

import pytest

import codeguard.calibrate as calibrate_module
from codeguard.calibrate import Perturbation, RunOutcome, calibrate, cpu_flags, plan_runs, table
from codeguard.errors import ConfigError
from codeguard.gating.baselines import load_baseline
from tests.helpers import REPO

AVX2_ONLY = {"fpu", "sse2", "avx", "avx2", "fma"}
AVX512 = AVX2_ONLY | {"avx512f", "avx512bw", "avx512vl", "avx512dq"}
PAIR = ("zoo:tiny-code", "zoo:tiny-code@onnx-int8")


def test_cpu_flags_come_from_proc_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 fma\n\nprocessor\t: 1\nflags\t\t: fpu avx2 fma\n")
    assert cpu_flags(cpuinfo) == {"fpu", "avx2", "fma"}
    assert cpu_flags(tmp_path / "missing") is None
    (tmp_path / "arm").write_text("processor\t: 0\nFeatures\t: fp asimd\n")
    assert cpu_flags(tmp_path / "arm") is None


def test_a_cpu_without_avx512_skips_that_kernel_set_and_says_why():
    runs, notes = plan_runs(seeds=3, flags=AVX2_ONLY, cores=2)
    names = [r.name for r in runs]
    assert names == ["as-is", "threads=1", "threads=2", "kernels=default", "kernels=avx2", "batch=small", "seed=1",
                     "seed=2"]
    assert notes == ["kernels=avx512: skipped: this CPU lacks avx512f, avx512bw, avx512vl, avx512dq (/proc/cpuinfo)"]
    threads = dict(runs[1].env)
    assert threads == {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "CODEGUARD_ORT_THREADS": "1",
                       "CODEGUARD_GGUF_THREADS": "1"}
    # torch's own kernels and the matrix-product libraries it calls are held to the same instruction set
    assert dict(runs[3].env) == {"ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
                                 "ONEDNN_MAX_CPU_ISA": "SSE41"}
    assert dict(runs[4].env) == {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
                                 "ONEDNN_MAX_CPU_ISA": "AVX2"}
    assert dict(runs[5].env) == {"CODEGUARD_TOKEN_BUDGET": "512"}
    assert [r.seed for r in runs if r.sampling_only] == [1, 2]


def test_no_cpu_flags_skips_every_kernel_set_and_one_core_has_one_thread_count():
    runs, notes = plan_runs(seeds=1, flags=None, cores=1)
    assert [r.name for r in runs] == ["as-is", "threads=1", "batch=small"]
    assert "kernels=*: skipped" in notes[0]


def test_perturbations_can_be_chosen_by_name_or_kind_and_unknown_ones_are_refused():
    runs, _ = plan_runs(seeds=3, flags=AVX512, cores=2, only=["kernels", "seed=2"])
    assert [r.name for r in runs] == ["as-is", "kernels=default", "kernels=avx2", "kernels=avx512", "seed=2"]
    with pytest.raises(ConfigError, match=r"--perturbations kernels=avx512: unknown here; this machine's runs are"):
        plan_runs(seeds=1, flags=AVX2_ONLY, cores=2, only=["kernels=avx512"])


@pytest.fixture
def baselines(tmp_path, monkeypatch):
    """A copy of the committed baselines, and the current folder at tmp_path (where runs would start)."""
    target = tmp_path / "baselines"
    shutil.copytree(REPO / "baselines", target)
    monkeypatch.chdir(tmp_path)
    return target


def _recorded(path, scale=None, nan=None, opt_fingerprint=None, exit_status=0):
    """A fake run_gate: each run measures the baseline's values, moved by `scale(run index)`."""
    baseline = load_baseline(path)
    calls = []

    def run_gate(perturbation, files, pair, baseline_dir, report_dir, slot=None, pytest_args=(), cwd=None,
                 timeout=None):
        calls.append((perturbation, files, pair, baseline_dir, list(pytest_args)))
        factor = scale(len(calls)) if scale else 1.0
        metrics = {name: m.value * factor for name, m in baseline.metrics.items()}
        if nan and len(calls) == 2:
            metrics[nan] = float("nan")
        fingerprints = (baseline.reference["fingerprint"], opt_fingerprint or baseline.accepted["fingerprint"])
        return RunOutcome(perturbation, (), exit_status, {baseline.suite: metrics}, {baseline.suite: fingerprints})
    return run_gate, calls


def test_calibration_runs_each_perturbation_and_writes_tolerances_with_provenance(baselines, monkeypatch):
    path = baselines / "zoo-tiny-code" / "cold_start.json"
    fake, calls = _recorded(path, scale=lambda i: 1 + 0.01 * i)
    monkeypatch.setattr(calibrate_module, "run_gate", fake)
    monkeypatch.setattr(calibrate_module, "cpu_flags", lambda: AVX2_ONLY)
    [result] = calibrate(*PAIR, ["cold_start"], baselines, seeds=3, only=["threads=1", "kernels=avx2", "seed"],
                         pytest_args=["--codeguard-ctx", "256"], log=lambda line: None)
    # seeds move only the sampling suites: cold_start runs as-is, threads=1 and kernels=avx2
    assert [c[0].name for c in calls] == ["as-is", "threads=1", "kernels=avx2"]
    assert calls[0][1] == [REPO / "suites" / "test_cold_start.py"] and calls[0][2] == ",".join(PAIR)
    assert calls[0][3] != baselines and calls[0][4] == ["--codeguard-ctx", "256"]  # a copy; options passed on
    written = load_baseline(path)
    kl = written.metrics["kl_ref_opt"]
    assert kl.rtol == 0.0 and kl.limit() >= kl.value * 1.03  # the worst run (+3 %) is inside
    block = written.calibration
    assert block["runs"] == 3 and block["margin"] == 3.0 and block["codeguard_version"]
    assert [p["name"] for p in block["perturbations"]] == ["as-is", "threads=1", "kernels=avx2"]
    assert block["perturbations"][1]["env"]["OMP_NUM_THREADS"] == "1"
    assert block["accepted"]["spec"] == PAIR[1] and "kernels=avx512: skipped" in block["skipped"][0]
    assert block["metrics"]["kl_ref_opt"]["spread"] == pytest.approx(kl.value * 0.03, rel=1e-4)
    assert "kl_ref_opt" in table(result) and "threads=1" in table(result)


def test_a_dry_run_writes_nothing(baselines, monkeypatch):
    path = baselines / "zoo-tiny-code" / "cold_start.json"
    before = path.read_text()
    monkeypatch.setattr(calibrate_module, "run_gate", _recorded(path)[0])
    [result] = calibrate(*PAIR, ["cold_start"], baselines, only=["threads=1"], dry_run=True, log=lambda line: None)
    assert path.read_text() == before and result.calibrated.calibration["runs"] == 2


def test_a_suite_without_a_baseline_is_refused_before_any_run(baselines, monkeypatch):
    monkeypatch.setattr(calibrate_module, "run_gate", lambda *a, **k: pytest.fail("no run may start"))
    (baselines / "zoo-tiny-code" / "corpus_kld.json").unlink()
    with pytest.raises(ConfigError) as error:
        calibrate(*PAIR, ["cold_start", "corpus_kld"], baselines, log=lambda line: None)
    message = str(error.value)
    assert "suite 'corpus_kld' has no baseline at" in message and "accept zoo:tiny-code@onnx-int8 first" in message
    assert "--codeguard-update" in message


def test_a_candidate_that_is_not_the_accepted_one_is_refused_before_any_run(baselines, monkeypatch):
    monkeypatch.setattr(calibrate_module, "run_gate", lambda *a, **k: pytest.fail("no run may start"))
    with pytest.raises(ConfigError) as error:
        calibrate("zoo:tiny-code", "zoo:tiny-code@int4-rtn", ["cold_start"], baselines, log=lambda line: None)
    assert "accepted zoo:tiny-code@onnx-int8, not zoo:tiny-code@int4-rtn" in str(error.value)


def test_the_same_spec_with_other_weights_is_refused_after_the_run(baselines, monkeypatch):
    path = baselines / "zoo-tiny-code" / "cold_start.json"
    before = path.read_text()
    monkeypatch.setattr(calibrate_module, "run_gate", _recorded(path, opt_fingerprint="sha256:other")[0])
    with pytest.raises(ConfigError, match="the runs loaded sha256:other .*Accept these weights first"):
        calibrate(*PAIR, ["cold_start"], baselines, only=["threads=1"], log=lambda line: None)
    assert path.read_text() == before  # a refused calibration writes nothing (the committed file keeps its block)


def test_a_run_that_measures_nan_is_refused_by_name(baselines, monkeypatch):
    path = baselines / "zoo-tiny-code" / "cold_start.json"
    monkeypatch.setattr(calibrate_module, "run_gate", _recorded(path, nan="js_divergence")[0])
    with pytest.raises(ConfigError, match="calibration run threads=1: suite 'cold_start' measured js_divergence = "
                                          "nan"):
        calibrate(*PAIR, ["cold_start"], baselines, only=["threads=1"], log=lambda line: None)


def test_a_run_that_fails_is_refused_with_its_output(baselines, monkeypatch):
    def broken(perturbation, *args, **kwargs):
        return RunOutcome(perturbation, (), 4, output="ERROR: usage: pytest [options]\nsomething went wrong")
    monkeypatch.setattr(calibrate_module, "run_gate", broken)
    with pytest.raises(ConfigError) as error:
        calibrate(*PAIR, ["cold_start"], baselines, only=["threads=1"], log=lambda line: None)
    message = str(error.value)
    assert "calibration run as-is (environment as-is) measured nothing for suite 'cold_start' (pytest exit " \
           "status 4)" in message and "something went wrong" in message


def test_fewer_than_two_runs_are_refused(baselines, monkeypatch):
    path = baselines / "zoo-tiny-code" / "cold_start.json"
    monkeypatch.setattr(calibrate_module, "run_gate", _recorded(path)[0])
    monkeypatch.setattr(calibrate_module, "plan_runs", lambda *a, **k: ([Perturbation("as-is")], []))
    with pytest.raises(ConfigError, match="suite 'cold_start': 1 calibration run\\(s\\); at least 2 are needed"):
        calibrate(*PAIR, ["cold_start"], baselines, log=lambda line: None)
