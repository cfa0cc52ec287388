"""Where models run: a device request (`auto`, `cpu`, `cuda`, `cuda:N`, `mps`) and a dtype request, checked against
what this machine has before any model loads, and what each backend makes of them.

The syntax check (`parse_device`, `parse_dtype`) imports nothing, so options can be validated at pytest start-up;
`resolve_placement` imports torch, because only torch can say which GPUs this process can use (an NVIDIA GPU on the
machine is no use to a CPU build of torch), except under `auto` on a Linux machine with no GPU driver at all, where
there is nothing to ask about: a GGUF pair then never imports torch (1.2 s and 0.19 GB of its run).
"""
from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from codeguard.errors import ConfigError, DeviceError

DEVICE_FORMS = "auto, cpu, cuda, cuda:N (N = GPU index) or mps"
DTYPE_NAMES = {"auto": "auto", "float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16",
               "float16": "float16", "fp16": "float16"}
DTYPE_FORMS = "auto, float32 (fp32), bfloat16 (bf16) or float16 (fp16)"
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
# Weights plus room for activations and the KV cache of a generation batch: a model whose weights alone fill more
# than this share of a GPU's free memory is spread over the GPUs (and the CPU) by accelerate instead.
GPU_FILL_SHARE = 0.8
_ELEMENT_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2, "float64": 8}
# What a Linux GPU driver exposes, and torch's CUDA (or ROCm) needs to reach a GPU: NVIDIA's control device and proc
# folder (also mounted into containers by the NVIDIA container toolkit), AMD's compute device for ROCm, WSL2's GPU.
GPU_DRIVER_PATHS = ("/dev/nvidiactl", "/proc/driver/nvidia", "/dev/kfd", "/dev/dxg")


def parse_device(text: str | None, option: str = "device") -> str:
    """The device request, normalised (`None`/empty: auto); anything else is an error naming the valid forms."""
    value = (text or "auto").strip().lower()
    if not _DEVICE.fullmatch(value):
        raise ConfigError(f"{option} {text!r}: not a device; use {DEVICE_FORMS}")
    return value


def parse_dtype(text: str | None, option: str = "dtype") -> str:
    """The dtype request as a torch dtype name (`None`/empty: auto); anything else names the valid forms."""
    value = (text or "auto").strip().lower()
    if value not in DTYPE_NAMES:
        raise ConfigError(f"{option} {text!r}: not a dtype; use {DTYPE_FORMS}")
    return DTYPE_NAMES[value]


@dataclass(frozen=True)
class Placement:
    """A checked device request: what was asked for, what it resolved to on this machine, and the dtype request."""

    requested: str      # as asked ("auto", "cuda", "cuda:1", ...)
    device: str         # "cpu", "cuda:N" or "mps"
    gpus: int = 0       # CUDA devices torch sees
    dtype: str = "auto"
    option: str = "device"  # the option or argument that asked, named in errors raised later by a backend

    @property
    def explicit(self) -> bool:
        """True when the user named the device: a backend that cannot use it must fail, not fall back to CPU."""
        return self.requested != "auto"

    @property
    def is_gpu(self) -> bool:
        return self.device != "cpu"

    @property
    def cuda_index(self) -> int | None:
        return int(self.device.split(":")[1]) if self.device.startswith("cuda:") else None

    def describe(self) -> str:
        """For the report header and results.json: `cuda:0`, `cpu`, `cpu (dtype bfloat16)`."""
        return self.device + (f" (dtype {self.dtype})" if self.dtype != "auto" else "")

    def unusable(self, backend: str, why: str, fix: str) -> DeviceError:
        """The error a backend raises when it cannot run on an explicitly requested device."""
        return DeviceError(f"{self.option} {self.requested}: {backend} cannot run on {self.device}: {why}; {fix}, "
                           f"or choose {self.option} cpu")


CPU = Placement(requested="cpu", device="cpu")


def resolve_placement(device: str | None = "auto", dtype: str | None = "auto", option: str = "device",
                      dtype_option: str = "dtype") -> Placement:
    """Checks the request against this machine; an unavailable device is a DeviceError naming what was found.

    `auto` picks cuda:0 when torch sees a CUDA GPU, else cpu (mps only when asked: its kernels differ in more than
    low bits, and a gate's baseline should not change because a laptop has one).
    """
    requested, dtype_name = parse_device(device, option), parse_dtype(dtype, dtype_option)
    if requested == "cpu" or (requested == "auto" and no_gpu_driver()):
        return Placement(requested, "cpu", 0, dtype_name, option)
    import torch
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if requested == "auto":
        return Placement(requested, "cuda:0" if gpus else "cpu", gpus, dtype_name, option)
    if requested == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise DeviceError(f"{option} mps: no Apple GPU (MPS) is available here; {_found(torch, gpus)}. Use "
                              f"{option} auto or cpu")
        return Placement(requested, "mps", gpus, dtype_name, option)
    index = int(requested.split(":")[1]) if ":" in requested else 0
    if index >= gpus:
        raise DeviceError(f"{option} {requested}: no such CUDA GPU; {_found(torch, gpus)}. Use {option} auto or cpu"
                          + ("" if gpus else ", or install a CUDA build of torch on a machine with an NVIDIA GPU"))
    return Placement(requested, f"cuda:{index}", gpus, dtype_name, option)


def no_gpu_driver(paths: tuple[str, ...] | None = None) -> bool:
    """True on a Linux machine where no GPU driver shows (none of `paths` exists): torch could see no GPU there, so
    `auto` is the CPU without importing torch. Elsewhere (macOS, Windows) only torch can tell."""
    return sys.platform.startswith("linux") and not any(os.path.exists(p) for p in paths or GPU_DRIVER_PATHS)


def _found(torch, gpus: int) -> str:
    if gpus:
        return f"torch sees {gpus} CUDA GPU(s): " + ", ".join(f"cuda:{i}" for i in range(gpus))
    build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
    return f"torch {torch.__version__} ({build}) sees no CUDA GPU, only the CPU"


def torch_dtype_name(placement: Placement, derived_dtype: str | None) -> str:
    """The dtype a transformers checkpoint loads in: a derivation's (@bf16) always, since it is what is gated; else
    the request; else, for `auto`, the checkpoint's own dtype on a GPU ("auto") and float32 on the CPU (where fp16
    is 1.5-6x slower and half-precision checkpoints, like the zoo's, are meant to be scored in float32)."""
    if derived_dtype:
        return derived_dtype
    if placement.dtype != "auto":
        return placement.dtype
    return "auto" if placement.is_gpu else "float32"


def weight_bytes(directory: Path, dtype_name: str) -> int:
    """Estimated bytes of a checkpoint's weights once loaded in `dtype_name` (its safetensors/bin size, rescaled
    from the dtype its config says it was saved in)."""
    directory = Path(directory)
    files = list(directory.glob("*.safetensors")) or list(directory.glob("*.bin"))
    stored = sum(f.stat().st_size for f in files)
    try:
        config = json.loads((directory / "config.json").read_text())
    except (OSError, ValueError):
        config = {}
    saved = str(config.get("dtype") or config.get("torch_dtype") or "float32")
    if dtype_name in _ELEMENT_BYTES and saved in _ELEMENT_BYTES:
        return stored * _ELEMENT_BYTES[dtype_name] // _ELEMENT_BYTES[saved]
    return stored


def device_map(placement: Placement, needed_bytes: int, free_bytes: int | None) -> str | None:
    """None: the whole model goes to `placement.device`; "auto": accelerate spreads it over every GPU (and the CPU).

    `auto` spreads when there is more than one GPU or when the weights would fill more than GPU_FILL_SHARE of the
    chosen GPU's free memory; an explicitly named GPU that is too small is an error, not a silent spread.
    """
    if not placement.is_gpu or placement.device == "mps":
        return None
    too_big = free_bytes is not None and needed_bytes > GPU_FILL_SHARE * free_bytes
    if placement.explicit:
        if too_big:
            raise DeviceError(f"{placement.option} {placement.requested}: the model needs about "
                              f"{needed_bytes / 2**30:.1f} GiB for its weights, more than {GPU_FILL_SHARE:.0%} of the "
                              f"{free_bytes / 2**30:.1f} GiB free on {placement.device}; use {placement.option} auto "
                              "to spread it over the GPUs and the CPU (accelerate), or a smaller dtype")
        return None
    return "auto" if placement.gpus > 1 or too_big else None


def release_memory() -> None:
    """Returns freed tensors' memory: Python's cycles first (a model's modules refer to each other), then the CUDA
    allocator's cached blocks, which torch otherwise keeps for reuse (and a retry, or the next model, needs). A
    process that never imported torch (a GGUF pair) has no such blocks, and does not import it here (1 s, 0.19 GB)."""
    import gc
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
