"""Whether a derivation fits in memory: estimated before it starts, refused with the numbers when it would not.

Needed bytes = FACTORS[derivation] x the source's weights counted in fp32 (every builder loads the source in float32,
whatever dtype it ships in) + OVERHEAD (the libraries a builder imports, which the calling process may not hold yet).
The fp32 weight bytes are the parameter count read from the safetensors headers (dtype and shape of every tensor, no
tensor data is read) x 4; a checkpoint with only `*.bin` files is counted by file size, rescaled from the config's
`torch_dtype` to fp32. Available bytes are the kernel's MemAvailable (/proc/meminfo); where there is no such file
(not Linux) nothing is checked.
"""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path

from codeguard.errors import DerivationMemoryError
from codeguard.models.derive.gguf_types import CONVERTER_TYPES
from codeguard.models.derive.gguf_types import PREFIX as GGUF_PREFIX

SKIP_ENV = "CODEGUARD_SKIP_MEMORY_CHECK"
GIB = 1024 ** 3
# Peak RSS above an interpreter that has imported torch, transformers and Optimum (0.28 GiB), measured by
# bench/bench_derivation_memory.py on random Qwen2-shaped models of 89, 167 and 288 M parameters with vocabulary
# 151,936 (bench/RESULTS.md, "Derivation peak memory"). Each factor is the largest (peak above that interpreter -
# OVERHEAD) / fp32 weight bytes over those sizes, plus 25 % margin (allocator slack; other shapes move these numbers),
# rounded up to a quarter. The casts are raised to 2: their peak is the fp32 model plus a half-size copy (slope
# 1.3-1.5 between sizes). Checked against the 494 M Qwen2.5-Coder-0.5B shape (11.3 GB = 10.5 GiB peak for
# @onnx-int8): estimated 16.1 GiB.
FACTORS = {
    "fp16": 2.0, "bf16": 2.0, "dynamic-int8": 2.0,
    "int4-rtn": 3.25, "int3-rtn": 3.25, "int2-rtn": 3.25,  # int3/2: int4's code
    "onnx": 7.25, "onnx-int8": 8.5,
}
GGUF_CONVERTER_FACTOR = 3.75  # @gguf-f32/f16/bf16: llama.cpp's converter (its process and ours together)
GGUF_QUANTIZED_FACTOR = 3.25  # @gguf-q8_0 etc.: an f32 conversion, then llama_model_quantize
# A fixed part that does not grow with the model: the libraries a builder imports (torch, transformers, Optimum, ONNX
# Runtime: 0.28 GiB in a bare interpreter), the tokenizer, the allocator's arenas.
OVERHEAD = GIB // 2


def factor(derivation: str) -> float:
    if derivation.startswith(GGUF_PREFIX):
        return GGUF_CONVERTER_FACTOR if derivation[len(GGUF_PREFIX):] in CONVERTER_TYPES else GGUF_QUANTIZED_FACTOR
    return FACTORS[derivation]


def needed_bytes(derivation: str, fp32_weight_bytes: int) -> int:
    """The estimated peak memory a derivation adds to the process that runs it."""
    return int(factor(derivation) * fp32_weight_bytes) + OVERHEAD


def source_fp32_bytes(source_dir: Path) -> int:
    """The source's weights in fp32 bytes: parameters from the safetensors headers x 4, else `*.bin` sizes rescaled."""
    source_dir = Path(source_dir)
    safetensors = sorted(source_dir.glob("*.safetensors"))
    if safetensors:
        return 4 * sum(_safetensors_parameters(path) for path in safetensors)
    stored = sum(path.stat().st_size for path in source_dir.glob("*.bin"))
    return stored * 4 // _config_itemsize(source_dir)


def _safetensors_parameters(path: Path) -> int:
    with open(path, "rb") as file:
        (length,) = struct.unpack("<Q", file.read(8))
        header = json.loads(file.read(length))
    count = 0
    for name, entry in header.items():
        if name != "__metadata__":
            elements = 1
            for dim in entry["shape"]:
                elements *= dim
            count += elements
    return count


def _config_itemsize(source_dir: Path) -> int:
    try:
        config = json.loads((source_dir / "config.json").read_text())
    except (OSError, ValueError):
        return 4
    dtype = str(config.get("torch_dtype") or config.get("dtype") or "float32")
    return 2 if dtype in ("float16", "bfloat16") else 4


def available_bytes() -> int | None:
    """MemAvailable from /proc/meminfo, or None where it cannot be read (not Linux)."""
    try:
        with open("/proc/meminfo") as file:
            for line in file:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_memory(source_dir: Path, derivation: str, spec_text: str) -> None:
    """Raises DerivationMemoryError when building `derivation` from `source_dir` would not fit in available memory."""
    if os.environ.get(SKIP_ENV, "") not in ("", "0"):
        return
    available = available_bytes()
    if available is None:
        return
    weights = source_fp32_bytes(source_dir)
    needed = needed_bytes(derivation, weights)
    if needed <= available:
        return
    gguf_hint = ""
    if not derivation.startswith(GGUF_PREFIX):
        gguf_need = needed_bytes(GGUF_PREFIX + "q8_0", weights)
        gguf_hint = (f"; or gate a GGUF build through llama.cpp instead (@gguf-q8_0 needs about "
                     f"{gguf_need / GIB:.1f} GiB)")
    raise DerivationMemoryError(
        f"model spec {spec_text!r}: building '@{derivation}' needs about {needed / GIB:.1f} GiB of memory "
        f"({factor(derivation):g} x the source's {weights / GIB:.2f} GiB of fp32 weights + "
        f"{OVERHEAD / GIB:.1f} GiB), but only {available / GIB:.1f} GiB is available (MemAvailable). "
        f"Free memory; or build it on a bigger machine and point codeguard at the result (copy its derived "
        f"directory and pass that directory as the model spec, or set CODEGUARD_CACHE to a cache that holds it)"
        f"{gguf_hint}. "
        f"The estimate has a safety margin: to try anyway, set {SKIP_ENV}=1")
