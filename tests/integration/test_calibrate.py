"""Calibration for real: `codeguard calibrate` and `--codeguard-update --codeguard-calibrate` run the cold-start
suite on the zoo pair under perturbed environments (fresh processes), write the tolerances and the provenance,
and a normal gate run against the calibrated baseline still passes. Two or three runs each: the cheapest suite."""
import json
import shutil
import subprocess
import sys

import pytest

from tests.helpers import REPO, write_suite

pytestmark = pytest.mark.slow
REF, OPT = "zoo:tiny-code", "zoo:tiny-code@onnx-int8"


def test_codeguard_calibrate_writes_tolerances_and_provenance_and_the_gate_still_passes(pytester):
    baselines = pytester.path / "baselines"
    shutil.copytree(REPO / "baselines", baselines)
    path = baselines / "zoo-tiny-code" / "cold_start.json"
    before = json.loads(path.read_text())
    proc = subprocess.run([sys.executable, "-m", "codeguard.cli.main", "calibrate", REF, OPT, "--suites",
                           "cold_start", "--perturbations", "threads=1,kernels=default", "--baseline-dir",
                           str(baselines)], capture_output=True, text=True, cwd=pytester.path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "codeguard calibrate: run 1/3 as-is: cold_start ..." in proc.stdout
    assert "cold_start: 3 runs (as-is, threads=1, kernels=default), margin 3" in proc.stdout
    assert f"written: {path}" in proc.stdout
    after = json.loads(path.read_text())
    block = after["calibration"]
    assert block["runs"] == 3 and block["margin"] == 3.0
    assert [p["name"] for p in block["perturbations"]] == ["as-is", "threads=1", "kernels=default"]
    assert block["perturbations"][2]["env"] == {"ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
                                                "ONEDNN_MAX_CPU_ISA": "SSE41"}
    assert block["accepted"] == before["accepted"]
    for name, metric in after["metrics"].items():
        assert metric["value"] == before["metrics"][name]["value"]  # calibration never moves accepted values
        assert metric["rtol"] == 0.0 and metric["atol"] == block["metrics"][name]["atol"]
        assert len(block["metrics"][name]["values"]) == 3
    # the gate, as CI runs it, against the calibrated baseline
    write_suite(pytester)
    gate = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--codeguard-baseline-dir", str(baselines),
                                         "--model-pair", f"{REF},{OPT}")
    gate.assert_outcomes(passed=1)
    gate.stdout.fnmatch_lines(["cold_start: PASSED*", "*kl_ref_opt *rtol 0, atol *ok"])


def test_update_with_calibrate_accepts_then_calibrates_what_it_wrote(pytester):
    write_suite(pytester)
    baselines = pytester.path / "bl"
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--codeguard-baseline-dir", str(baselines),
                                           "--model-pair", f"{REF},{OPT}", "--codeguard-update",
                                           "--codeguard-calibrate", "--codeguard-calibrate-perturbations",
                                           "threads=1")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*codeguard: wrote baseline *bl/zoo-tiny-code/cold_start.json",
                                 "codeguard: calibrating cold_start for zoo:tiny-code@onnx-int8 *",
                                 "cold_start: 2 runs (as-is, threads=1), margin 3; *cold_start.json",
                                 "*metric*baseline*spread*sd*worst run*old tolerance*old limit*new atol*new limit*",
                                 "codeguard: wrote calibrated tolerances into *bl/zoo-tiny-code/cold_start.json"])
    stored = json.loads((baselines / "zoo-tiny-code" / "cold_start.json").read_text())
    assert stored["calibration"]["runs"] == 2 and stored["metrics"]["kl_ref_opt"]["rtol"] == 0.0


def test_calibrate_without_update_is_a_usage_error(pytester):
    write_suite(pytester)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--model-pair", f"{REF},{OPT}",
                                           "--codeguard-calibrate")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--codeguard-calibrate calibrates the candidate an update run accepts; give it "
                                 "together with --codeguard-update*"])
