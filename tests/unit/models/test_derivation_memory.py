"""The memory precheck before a derivation: the estimate, the refusal and its message, the override, the cache hit."""
import json
import re
import struct

import pytest

from codeguard.errors import DerivationMemoryError
from codeguard.models.derive import derivations, memory
from codeguard.models.derive.derivations import derive

GIB = 1024 ** 3


def write_safetensors(path, tensors):
    """A safetensors file with the given {name: (dtype, shape)} header and zero-filled data."""
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, (dtype, shape) in tensors.items():
        size = {"F32": 4, "BF16": 2, "F16": 2}[dtype]
        for dim in shape:
            size *= dim
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(offset))


@pytest.fixture
def source(tmp_path):
    """A bf16 checkpoint of 1,000 x 500 + 500 parameters split over two shards, and a config."""
    directory = tmp_path / "source"
    directory.mkdir()
    write_safetensors(directory / "model-00001-of-00002.safetensors", {"embed": ("BF16", [1000, 500])})
    write_safetensors(directory / "model-00002-of-00002.safetensors", {"norm": ("BF16", [500])})
    (directory / "config.json").write_text(json.dumps({"model_type": "llama", "torch_dtype": "bfloat16"}))
    return directory


def test_weights_are_counted_in_fp32_from_safetensors_headers(source):
    assert memory.source_fp32_bytes(source) == 4 * (1000 * 500 + 500)


def test_bin_checkpoints_are_counted_by_size_rescaled_to_fp32(tmp_path):
    (tmp_path / "pytorch_model.bin").write_bytes(bytes(1000))
    assert memory.source_fp32_bytes(tmp_path) == 1000  # no config: taken as fp32
    (tmp_path / "config.json").write_text(json.dumps({"torch_dtype": "float16"}))
    assert memory.source_fp32_bytes(tmp_path) == 2000


def test_estimate_is_factor_times_fp32_weights_plus_overhead():
    assert memory.needed_bytes("onnx-int8", 10 * GIB) == int(memory.FACTORS["onnx-int8"] * 10 * GIB) + memory.OVERHEAD
    assert memory.factor("gguf-q4_k_m") == memory.GGUF_QUANTIZED_FACTOR
    assert memory.factor("gguf-f16") == memory.GGUF_CONVERTER_FACTOR
    # the factors the precheck uses cover every derivation a spec can name
    from codeguard.models.specs import DERIVATIONS
    assert all(memory.factor(d) > 1 for d in DERIVATIONS)


def test_available_memory_is_read_from_proc_meminfo():
    available = memory.available_bytes()
    assert available is None or available > 0


def test_refusal_names_spec_derivation_needed_available_and_the_ways_out(source, monkeypatch):
    monkeypatch.delenv(memory.SKIP_ENV, raising=False)
    monkeypatch.setattr(memory, "available_bytes", lambda: GIB // 4)
    with pytest.raises(DerivationMemoryError) as raised:
        memory.check_memory(source, "onnx-int8", "hf:org/big@onnx-int8")
    message = str(raised.value)
    needed = memory.needed_bytes("onnx-int8", memory.source_fp32_bytes(source)) / GIB
    assert "'hf:org/big@onnx-int8'" in message and "'@onnx-int8'" in message
    assert f"needs about {needed:.1f} GiB" in message and "only 0.2 GiB is available (MemAvailable)" in message
    assert "Free memory" in message and "bigger machine" in message and "CODEGUARD_CACHE" in message
    assert re.search(r"@gguf-q8_0 needs about \d+\.\d GiB", message)
    assert "CODEGUARD_SKIP_MEMORY_CHECK=1" in message


def test_enough_memory_or_no_meminfo_passes(source, monkeypatch):
    monkeypatch.delenv(memory.SKIP_ENV, raising=False)
    monkeypatch.setattr(memory, "available_bytes", lambda: 64 * GIB)
    memory.check_memory(source, "onnx-int8", "x@onnx-int8")
    monkeypatch.setattr(memory, "available_bytes", lambda: None)  # not Linux: nothing to compare with
    memory.check_memory(source, "onnx-int8", "x@onnx-int8")


def test_env_var_overrides_the_refusal(source, monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 1)
    monkeypatch.setenv(memory.SKIP_ENV, "1")
    memory.check_memory(source, "onnx", "x@onnx")
    monkeypatch.setenv(memory.SKIP_ENV, "0")
    with pytest.raises(DerivationMemoryError):
        memory.check_memory(source, "onnx", "x@onnx")


def test_derive_refuses_before_building_and_never_checks_a_cached_result(source, tmp_path, monkeypatch):
    monkeypatch.setenv("CODEGUARD_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(memory.SKIP_ENV, raising=False)
    monkeypatch.setattr(memory, "available_bytes", lambda: 1)
    built = []
    monkeypatch.setitem(derivations._BUILDERS, "fp16", lambda source_dir, target: built.append(target) or {})
    with pytest.raises(DerivationMemoryError, match="'@fp16' needs about"):
        derive(source, "torch", "sha256:" + "0" * 64, "fp16", "src@fp16")
    assert built == [] and not list((tmp_path / "cache" / "derived").glob("*"))
    monkeypatch.setenv(memory.SKIP_ENV, "1")
    target, kind, _ = derive(source, "torch", "sha256:" + "0" * 64, "fp16", "src@fp16")
    assert len(built) == 1 and kind == "torch"
    monkeypatch.delenv(memory.SKIP_ENV)
    again, _, _ = derive(source, "torch", "sha256:" + "0" * 64, "fp16", "src@fp16")  # in the cache: no check
    assert again == target and len(built) == 1
