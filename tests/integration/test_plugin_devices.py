"""--codeguard-device / --codeguard-dtype through pytest (pytester): the header, precedence, usage errors naming the
option, and the device in results.json."""
import json

import pytest
import torch

from tests.helpers import write_suite

pytestmark = pytest.mark.slow
PAIR = "zoo:tiny-code,zoo:tiny-code@bf16"
GPUS = torch.cuda.device_count() if torch.cuda.is_available() else 0
AUTO = "cuda:0" if GPUS else "cpu"


def _run(pytester, *args):
    write_suite(pytester)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "--codeguard-baseline-dir",
                                         str(pytester.path / "bl"), *args)


@pytest.mark.parametrize("args, device", [(["--codeguard-device", "cpu"], "cpu"), ([], AUTO),
                                          (["--codeguard-device", "auto", "--codeguard-dtype", "bf16"],
                                           f"{AUTO} (dtype bfloat16)")])
def test_the_header_names_the_device_models_will_use(pytester, args, device):
    result = _run(pytester, "--model-pair", PAIR, "--collect-only", *args)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines([f"codeguard 0.1.0: model-pair={PAIR} * device={device}"])


def test_a_bad_device_is_a_usage_error_naming_the_valid_forms_even_without_a_pair(pytester):
    result = _run(pytester, "--codeguard-device", "gpu")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*codeguard: --codeguard-device 'gpu': not a device; use auto, cpu, cuda, cuda:N "
                                 "(N = GPU index) or mps"])


def test_a_missing_gpu_fails_before_any_model_loads_and_names_the_option(pytester):
    result = _run(pytester, "--model-pair", PAIR, "--codeguard-device", f"cuda:{GPUS + 3}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*codeguard: --codeguard-device cuda:{GPUS + 3}: no such CUDA GPU; torch*sees *"])
    assert "passed" not in result.stdout.str() and "failed" not in result.stdout.str()


@pytest.mark.skipif(GPUS > 0, reason="this machine has a CUDA GPU")
@pytest.mark.parametrize("device", ["cuda", "mps"])
def test_cuda_or_mps_without_one_is_a_usage_error(pytester, device):
    result = _run(pytester, "--model-pair", PAIR, "--codeguard-device", device)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*codeguard: --codeguard-device {device}: no *"])


def test_cli_beats_environment_beats_ini_and_errors_name_the_source(pytester, monkeypatch):
    pytester.makeini("[pytest]\ncodeguard_device = tpu\n")
    result = _run(pytester, "--model-pair", PAIR, "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*codeguard: codeguard_device (ini) 'tpu': not a device*"])
    monkeypatch.setenv("CODEGUARD_DEVICE", f"cuda:{GPUS + 3}")
    result = _run(pytester, "--model-pair", PAIR, "--collect-only")
    result.stderr.fnmatch_lines([f"*codeguard: CODEGUARD_DEVICE cuda:{GPUS + 3}: no such CUDA GPU*"])
    result = _run(pytester, "--model-pair", PAIR, "--collect-only", "--codeguard-device", "cpu")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["codeguard 0.1.0: * device=cpu"])


def test_results_json_records_the_device(pytester):
    report = pytester.path / "report"
    result = _run(pytester, "--model-pair", PAIR, "--codeguard-update", "--codeguard-device", "cpu",
                  "--codeguard-report", str(report))
    result.assert_outcomes(passed=1)
    assert json.loads((report / "results.json").read_text())["run"]["device"] == "cpu"
