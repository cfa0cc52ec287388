"""Derivations (`@fp16`, `@onnx-int8`, ...): turn a model directory into a compressed one with the real toolchain.

Each derivation writes a directory in the cache, keyed by the source fingerprint and the recipe, atomically
(build in a temp dir, then rename), so concurrent runs and interrupted runs never see half a model.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path

from codeguard.atomic_files import write_json_atomically
from codeguard.cache import cache_root
from codeguard.errors import ModelSpecError
from codeguard.models.derive.fingerprint import derived_fingerprint
from codeguard.models.derive.gguf_convert import build_gguf
from codeguard.models.derive.gguf_types import GGUF_TYPES
from codeguard.models.derive.gguf_types import PREFIX as GGUF_PREFIX
from codeguard.models.derive.memory import check_memory
from codeguard.tokenization.vocabs import LLAMA_CPP_PYTHON_VERSION

MANIFEST = "codeguard-derivation.json"
RECIPE_VERSION = 2
INT4_GROUP_SIZE = 32

# What each derivation produces: "torch" (a transformers directory), "torch-dynamic-int8" (a transformers
# directory quantized on load), "onnx" (an Optimum export) or "gguf" (a folder holding model.gguf, run by llama.cpp).
PRODUCES = {"fp16": "torch", "bf16": "torch", "int4-rtn": "torch", "int3-rtn": "torch", "int2-rtn": "torch",
            "dynamic-int8": "torch-dynamic-int8", "onnx": "onnx", "onnx-int8": "onnx",
            **{GGUF_PREFIX + t: "gguf" for t in GGUF_TYPES}}


def derive(source_dir: Path, source_kind: str, source_fingerprint: str, derivation: str, spec_text: str):
    """Returns (directory, kind, fingerprint) of the derived model, building it once per cache."""
    if source_kind != "torch":
        raise ModelSpecError(
            f"model spec {spec_text!r}: '@{derivation}' needs a PyTorch (transformers) model as its input, "
            f"but the step before it gives a {source_kind} model; put '@{derivation}' first or drop the other suffix")
    fingerprint = derived_fingerprint(source_fingerprint, _recipe(derivation), RECIPE_VERSION)
    target = cache_root() / "derived" / f"{derivation}-{fingerprint.split(':')[1][:24]}"
    if not (target / MANIFEST).is_file():
        check_memory(source_dir, derivation, spec_text)  # a cached result needs no memory: only a build is checked
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{derivation}-", dir=target.parent))
        try:
            details = _builder(derivation)(source_dir, staging, spec_text)
            manifest = {"derivation": derivation, "recipe_version": RECIPE_VERSION, "kind": PRODUCES[derivation],
                        "source_fingerprint": source_fingerprint, "fingerprint": fingerprint, **details}
            write_json_atomically(staging / MANIFEST, manifest)
            try:
                os.replace(staging, target)
            except OSError:  # another process finished first: theirs is identical
                shutil.rmtree(staging, ignore_errors=True)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return target, PRODUCES[derivation], fingerprint


def _recipe(derivation: str) -> str:
    """What the derived fingerprint hashes besides the source: a GGUF also depends on the pinned llama.cpp."""
    if derivation.startswith(GGUF_PREFIX):
        return f"{derivation}|llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION}"
    return derivation


def _builder(derivation: str):
    """build(source_dir, target, spec_text) -> manifest details."""
    if derivation.startswith(GGUF_PREFIX):
        return build_gguf(derivation[len(GGUF_PREFIX):])
    return lambda source_dir, target, spec_text: _BUILDERS[derivation](source_dir, target)


def read_manifest(directory: Path) -> dict:
    path = Path(directory) / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else {}


def _load_torch(source_dir: Path, dtype):
    import torch
    from transformers import AutoModelForCausalLM
    return AutoModelForCausalLM.from_pretrained(source_dir, dtype=dtype or torch.float32)


def _copy_tokenizer(source_dir: Path, target: Path) -> None:
    from transformers import AutoTokenizer
    AutoTokenizer.from_pretrained(source_dir).save_pretrained(target)


def _cast(dtype_name: str):
    def build(source_dir: Path, target: Path) -> dict:
        import torch
        model = _load_torch(source_dir, getattr(torch, dtype_name))
        model.save_pretrained(target, safe_serialization=True)
        _copy_tokenizer(source_dir, target)
        return {"dtype": dtype_name}
    return build


def _dynamic_int8(source_dir: Path, target: Path) -> dict:
    """Stores the fp32 weights; `apply_dynamic_int8` quantizes Linear layers on load (torch cannot save it)."""
    _load_torch(source_dir, None).save_pretrained(target, safe_serialization=True)
    _copy_tokenizer(source_dir, target)
    return {"method": "torch.ao.quantization.quantize_dynamic(nn.Linear, qint8), GPT-2 Conv1D converted first"}


def apply_dynamic_int8(model):
    """Quantizes every nn.Linear (and GPT-2 Conv1D, converted exactly to Linear first) to dynamic int8."""
    import torch
    from transformers.pytorch_utils import Conv1D
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, Conv1D):
                linear = torch.nn.Linear(child.weight.shape[0], child.weight.shape[1])
                linear.weight.data = child.weight.data.t().contiguous()
                linear.bias.data = child.bias.data
                setattr(parent, name, linear)
    # The LM head is tied to the embedding; quantizing it would also change the embedding's role. Keep it fp32,
    # as PyTorch's own LLM recipes do.
    head = model.get_output_embeddings()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layers = {name for name, module in model.named_modules()
                  if isinstance(module, torch.nn.Linear) and module is not head}
        return torch.ao.quantization.quantize_dynamic(model, layers, dtype=torch.qint8)


def _rtn(bits: int):
    def build(source_dir: Path, target: Path) -> dict:
        """Weight-only `bits`-bit round-to-nearest, asymmetric, one scale and zero point per group of 32 inputs.

        Every weight matrix is quantized: all Linear layers and the token embedding (which small code models tie
        to the LM head), as a low-bit checkpoint that ships all its matrices that way would. Weights are stored
        dequantized in fp32, so the result loads (and exports) like any transformers model and computes exactly
        what a low-bit kernel with these codes and scales would. 3 and 2 bits are llama.cpp's Q3/Q2 territory.
        """
        import torch
        model = _load_torch(source_dir, None)
        seen, quantized = set(), []
        with torch.no_grad():
            for name, module in model.named_modules():
                if isinstance(module, (torch.nn.Linear, torch.nn.Embedding)) and id(module.weight) not in seen:
                    seen.add(id(module.weight))
                    module.weight.copy_(rtn_quantize(module.weight, bits=bits, group_size=INT4_GROUP_SIZE))
                    quantized.append(name)
        model.save_pretrained(target, safe_serialization=True)
        _copy_tokenizer(source_dir, target)
        return {"bits": bits, "group_size": INT4_GROUP_SIZE,
                "scheme": "asymmetric min-max per group, round to nearest", "quantized_matrices": len(quantized)}
    return build


def rtn_quantize(weight, bits: int, group_size: int):
    """Quantize-dequantize `weight` (out x in) in groups of `group_size` input columns.

    When the input width is not a multiple of the group size, the last group is narrower (its own scale).
    """
    import torch
    in_features = weight.shape[1]
    full = in_features - in_features % group_size
    parts = []
    if full:
        parts.append(_rtn_groups(weight[:, :full], bits, group_size))
    if full < in_features:
        parts.append(_rtn_groups(weight[:, full:], bits, in_features - full))
    return torch.cat(parts, dim=1).to(weight.dtype)


def _rtn_groups(weight, bits: int, group_size: int):
    import torch
    out_features, in_features = weight.shape
    groups = weight.reshape(out_features, in_features // group_size, group_size).to(torch.float32)
    low, high = groups.amin(-1, keepdim=True), groups.amax(-1, keepdim=True)
    levels = 2 ** bits - 1
    scale = ((high - low) / levels).clamp(min=1e-8)
    zero = torch.round(-low / scale)
    codes = torch.clamp(torch.round(groups / scale) + zero, 0, levels)
    return ((codes - zero) * scale).reshape(out_features, in_features)


def _onnx(source_dir: Path, target: Path) -> dict:
    from optimum.onnxruntime import ORTModelForCausalLM
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ORTModelForCausalLM.from_pretrained(source_dir, export=True)
    model.save_pretrained(target)  # copies model.onnx_data too when the export has one
    _copy_tokenizer(source_dir, target)
    return {"file_name": "model.onnx", "exporter": "optimum-onnx",
            "external_data": uses_external_data(target, "model.onnx")}


def uses_external_data(directory: Path, file_name: str) -> bool:
    """Whether the ONNX model `file_name` keeps its weights in a side file rather than inside the graph.

    Optimum's exporter does so past protobuf's 2 GB limit (or with FORCE_ONNX_EXTERNAL_DATA=1), always as one file
    `<file_name>_data`; ONNX Runtime's quantizer names its own `<file_name>.data`. Such a model must be quantized with
    `use_external_data_format=True`, or ORT tries to serialize more than 2 GB into one protobuf and fails.
    """
    return any((Path(directory) / f"{file_name}{suffix}").is_file() for suffix in ("_data", ".data"))


def _onnx_int8(source_dir: Path, target: Path) -> dict:
    from optimum.onnxruntime import ORTQuantizer
    from optimum.onnxruntime.configuration import AutoQuantizationConfig
    export_dir = Path(tempfile.mkdtemp(prefix=".onnx-export-", dir=target.parent))
    try:
        _onnx(source_dir, export_dir)
        external = uses_external_data(export_dir, "model.onnx")
        quantizer = ORTQuantizer.from_pretrained(export_dir, file_name="model.onnx")
        config = AutoQuantizationConfig.avx2(is_static=False, per_channel=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # ORT writes the weights beside the graph as model_quantized.onnx.data, which ONNX Runtime finds there
            quantizer.quantize(save_dir=target, quantization_config=config, use_external_data_format=external)
        for name in ("config.json", "generation_config.json"):
            if (export_dir / name).is_file() and not (target / name).is_file():
                shutil.copy(export_dir / name, target / name)
        _copy_tokenizer(source_dir, target)
    finally:
        shutil.rmtree(export_dir, ignore_errors=True)
    return {"file_name": "model_quantized.onnx", "exporter": "optimum-onnx", "external_data": external,
            "quantization": "ORTQuantizer dynamic int8, AutoQuantizationConfig.avx2(is_static=False, per_channel=False)"}


_BUILDERS = {"fp16": _cast("float16"), "bf16": _cast("bfloat16"), "dynamic-int8": _dynamic_int8,
             "int4-rtn": _rtn(4), "int3-rtn": _rtn(3), "int2-rtn": _rtn(2), "onnx": _onnx, "onnx-int8": _onnx_int8}
