"""Turns a spec string into a loaded LanguageModel: resolve its files (`resolve`), then load them by kind."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

from codeguard.errors import ModelSpecError
from codeguard.models.derive.derivations import apply_dynamic_int8, read_manifest
from codeguard.models.gguf import GGUFCausalLM
from codeguard.models.hf import HFCausalLM
from codeguard.models.openai_endpoint import OpenAIEndpointLM
from codeguard.models.protocol import LanguageModel
from codeguard.models.resolve import materialize
from codeguard.models.specs import ModelSpec, parse_spec


def load_model(spec_text: str | ModelSpec, batch_size: int = 16) -> LanguageModel:
    """Loads any spec string (`./dir`, `./model.gguf`, `hf:ORG/NAME`, `zoo:NAME`, with `@derivation` suffixes, or a
    served model `openai:URL#MODEL?tokenizer=SPEC`)."""
    spec = spec_text if isinstance(spec_text, ModelSpec) else parse_spec(spec_text)
    if spec.scheme == "openai":  # a served model: nothing to materialize locally but its tokenizer
        return OpenAIEndpointLM.connect(spec.text)
    directory, kind, fingerprint = materialize(spec)
    if kind == "gguf":
        manifest = {} if directory.is_file() else read_manifest(directory)
        path = directory if directory.is_file() else directory / manifest["file_name"]
        return GGUFCausalLM.load(path, spec.text, fingerprint, details=manifest)
    tokenizer = _load_tokenizer(directory, spec.text)
    if kind == "onnx":
        model, backend = _load_onnx(directory), "onnxruntime"
    else:
        model, backend = _load_torch(directory, spec.text), "torch"
        if kind == "torch-dynamic-int8":
            model, backend = apply_dynamic_int8(model), "torch-dynamic-int8"
    details = {"directory": str(directory), "kind": kind, **read_manifest(directory)}
    return HFCausalLM(spec=spec.text, fingerprint=fingerprint, backend=backend, model=model,
                      hf_tokenizer=tokenizer, details=details, batch_size=batch_size)


def _load_tokenizer(directory: Path, spec_text: str):
    from transformers import AutoTokenizer
    try:
        tokenizer = AutoTokenizer.from_pretrained(directory)
    except Exception as error:  # noqa: BLE001
        raise ModelSpecError(f"model spec {spec_text!r}: cannot load a tokenizer from {directory}: {error}") from None
    tokenizer.model_input_names = ["input_ids", "attention_mask"]
    return tokenizer


def _load_torch(directory: Path, spec_text: str):
    import torch
    from transformers import AutoModelForCausalLM
    # Checkpoints stored in half precision (the zoo) run in fp32 unless a derivation (@fp16, @bf16) says otherwise.
    dtype = getattr(torch, read_manifest(directory).get("dtype", "float32"))
    try:
        model = AutoModelForCausalLM.from_pretrained(directory, dtype=dtype)
    except Exception as error:  # noqa: BLE001
        raise ModelSpecError(f"model spec {spec_text!r}: transformers cannot load {directory}: {error}") from None
    return model.eval()


def _load_onnx(directory: Path):
    import onnxruntime
    from optimum.onnxruntime import ORTModelForCausalLM
    options = onnxruntime.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.intra_op_num_threads = int(os.environ.get("CODEGUARD_ORT_THREADS", "1"))
    file_name = read_manifest(directory).get("file_name")
    if file_name is None:
        onnx_files = sorted(p.name for p in directory.glob("*.onnx"))
        file_name = "model.onnx" if "model.onnx" in onnx_files else onnx_files[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ORTModelForCausalLM.from_pretrained(directory, file_name=file_name, session_options=options)
