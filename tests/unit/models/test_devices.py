"""Device and dtype requests: parsing, checking against this machine, and where a checkpoint goes."""
import subprocess
import sys

import pytest
import torch

from codeguard.errors import ConfigError, DeviceError
from codeguard.models.devices import (GPU_FILL_SHARE, Placement, device_map, no_gpu_driver, parse_device,
                                      parse_dtype, resolve_placement, torch_dtype_name, weight_bytes)
from codeguard.models.zoo import zoo_path

GPUS = torch.cuda.device_count() if torch.cuda.is_available() else 0
GIB = 2 ** 30


@pytest.mark.parametrize("text, expected", [(None, "auto"), ("", "auto"), ("CPU", "cpu"), ("cuda", "cuda"),
                                            ("cuda:12", "cuda:12"), (" mps ", "mps"), ("auto", "auto")])
def test_device_forms(text, expected):
    assert parse_device(text) == expected


@pytest.mark.parametrize("text", ["gpu", "cuda:", "cuda:x", "cuda:-1", "cuda0", "tpu", "cpu:0"])
def test_a_bad_device_names_the_option_and_the_valid_forms(text):
    with pytest.raises(ConfigError) as error:
        parse_device(text, "--codeguard-device")
    assert str(error.value) == (f"--codeguard-device {text!r}: not a device; use auto, cpu, cuda, cuda:N "
                                "(N = GPU index) or mps")


def test_dtype_forms_and_a_bad_one():
    assert [parse_dtype(t) for t in (None, "bf16", "BFloat16", "fp32", "float16")] == \
        ["auto", "bfloat16", "bfloat16", "float32", "float16"]
    with pytest.raises(ConfigError, match=r"--dtype 'int8': not a dtype; use auto, float32 \(fp32\)"):
        parse_dtype("int8", "--dtype")


def test_cpu_and_auto_on_this_machine():
    assert resolve_placement("cpu") == Placement("cpu", "cpu", 0, "auto", "device")
    auto = resolve_placement("auto", "bf16")
    assert auto.device == ("cuda:0" if GPUS else "cpu") and auto.gpus == GPUS and not auto.explicit
    assert auto.describe() == f"{auto.device} (dtype bfloat16)"


def test_a_missing_cuda_gpu_is_an_error_naming_the_option_and_what_was_found():
    with pytest.raises(DeviceError) as error:
        resolve_placement(f"cuda:{GPUS + 2}", option="--codeguard-device")
    message = str(error.value)
    assert message.startswith(f"--codeguard-device cuda:{GPUS + 2}: no such CUDA GPU; torch ")
    assert (f"torch sees {GPUS} CUDA GPU(s): cuda:0" if GPUS else
            f"torch {torch.__version__} (") in message  # the GPUs it has, or which torch build sees none
    assert GPUS or "sees no CUDA GPU, only the CPU" in message
    assert "Use --codeguard-device auto or cpu" in message


@pytest.mark.skipif(GPUS > 0, reason="this machine has a CUDA GPU: plain `cuda` is available here")
def test_cuda_without_a_gpu_is_an_error():
    with pytest.raises(DeviceError, match=r"^--device cuda: no such CUDA GPU; .*CPU-only build|sees no CUDA GPU"):
        resolve_placement("cuda", option="--device")


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="this machine has an Apple GPU")
def test_mps_without_an_apple_gpu_is_an_error():
    with pytest.raises(DeviceError, match=r"^--codeguard-device mps: no Apple GPU \(MPS\) is available here"):
        resolve_placement("mps", option="--codeguard-device")


def test_dtype_a_transformers_checkpoint_loads_in():
    cpu, gpu = Placement("auto", "cpu"), Placement("auto", "cuda:0", 1)
    assert torch_dtype_name(cpu, None) == "float32"            # today's CPU behaviour
    assert torch_dtype_name(gpu, None) == "auto"               # the checkpoint's own dtype on a GPU
    assert torch_dtype_name(cpu, "bfloat16") == "bfloat16"     # a derivation (@bf16) always wins
    assert torch_dtype_name(Placement("cuda", "cuda:0", 1, "float32"), "float16") == "float16"
    assert torch_dtype_name(Placement("cuda", "cuda:0", 1, "bfloat16"), None) == "bfloat16"


def test_weight_estimate_rescales_from_the_saved_dtype():
    directory = zoo_path("tiny-code")  # saved in float16
    stored = (directory / "model.safetensors").stat().st_size
    assert weight_bytes(directory, "float16") == stored
    assert weight_bytes(directory, "float32") == 2 * stored


def test_when_a_model_is_spread_over_the_gpus():
    one, two = Placement("auto", "cuda:0", 1), Placement("auto", "cuda:0", 2)
    assert device_map(Placement("auto", "cpu"), 100 * GIB, None) is None
    assert device_map(one, 10 * GIB, 80 * GIB) is None
    assert device_map(one, int(GPU_FILL_SHARE * 80 * GIB) + 1, 80 * GIB) == "auto"  # larger than one GPU
    assert device_map(two, 1 * GIB, 80 * GIB) == "auto"                             # more than one GPU
    assert device_map(Placement("cuda:1", "cuda:1", 2), 1 * GIB, 80 * GIB) is None   # named: that GPU only
    with pytest.raises(DeviceError, match=r"^--codeguard-device cuda:1: the model needs about 70.0 GiB .* 80.0 GiB "
                                          r"free on cuda:1; use --codeguard-device auto"):
        device_map(Placement("cuda:1", "cuda:1", 2, option="--codeguard-device"), 70 * GIB, 80 * GIB)


def test_no_gpu_driver_reads_the_driver_paths(tmp_path):
    present = tmp_path / "nvidiactl"
    present.touch()
    assert no_gpu_driver((str(tmp_path / "kfd"),)) is sys.platform.startswith("linux")
    assert not no_gpu_driver((str(tmp_path / "kfd"), str(present)))


@pytest.mark.skipif(not no_gpu_driver(), reason="a GPU driver is present: auto asks torch")
def test_auto_without_a_gpu_driver_is_the_cpu_without_importing_torch():
    """A GGUF pair never needs torch; asking it for GPUs cost 1.2 s and 0.19 GB (bench/bench_llama_parity.py)."""
    script = ("import sys\nfrom codeguard.models.devices import resolve_placement\n"
              "print(resolve_placement('auto').device, 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "cpu False"


def test_auto_with_a_gpu_driver_asks_torch(monkeypatch, tmp_path):
    """A driver alone does not make a GPU usable (a CPU build of torch): torch decides, as without the shortcut."""
    (tmp_path / "nvidiactl").touch()
    monkeypatch.setattr("codeguard.models.devices.GPU_DRIVER_PATHS", (str(tmp_path / "nvidiactl"),))
    asked = []
    import torch
    monkeypatch.setattr(torch.cuda, "is_available", lambda: asked.append(True) or False)
    assert resolve_placement("auto").device == "cpu" and asked == [True]
