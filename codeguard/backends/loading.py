"""Turns a spec string into a loaded LanguageModel: resolve the source, apply derivations, load by kind."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

from codeguard.backends.base import HFCausalLM, LanguageModel
from codeguard.derivations import apply_dynamic_int8, derive, read_manifest
from codeguard.errors import ModelSpecError
from codeguard.fingerprint import directory_fingerprint
from codeguard.specs import ACCEPTED_FORMS, ModelSpec, parse_spec
from codeguard.zoo import zoo_path


def directory_kind(directory: Path, spec_text: str) -> str:
    """'onnx' for an Optimum export, 'torch' for a transformers checkpoint; anything else is an error."""
    directory = Path(directory)
    if not directory.exists():
        raise ModelSpecError(f"model spec {spec_text!r}: path {str(directory)!r} does not exist; {ACCEPTED_FORMS}")
    if not directory.is_dir():
        raise ModelSpecError(f"model spec {spec_text!r}: {str(directory)!r} is a file, not a model directory; "
                             f"{ACCEPTED_FORMS}")
    manifest_kind = read_manifest(directory).get("kind")
    if manifest_kind:
        return manifest_kind
    has_config = (directory / "config.json").is_file()
    if has_config and any(directory.glob("*.onnx")):
        return "onnx"
    if has_config and any(any(directory.glob(pattern)) for pattern in ("*.safetensors", "*.bin")):
        return "torch"
    raise ModelSpecError(
        f"model spec {spec_text!r}: directory {str(directory)!r} is neither a transformers model (config.json with "
        f"*.safetensors or *.bin weights) nor an Optimum ONNX export (config.json with *.onnx); {ACCEPTED_FORMS}")


def resolve_source(spec: ModelSpec) -> Path:
    if spec.scheme == "zoo":
        return zoo_path(spec.location)
    if spec.scheme == "hf":
        return _download_from_hub(spec)
    return Path(spec.location).expanduser()


def _download_from_hub(spec: ModelSpec) -> Path:
    """Fetches a hub snapshot (or finds it in the local HF cache); fails fast and clearly when offline."""
    os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", "5")
    os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", "10")
    from huggingface_hub import snapshot_download
    patterns = ["*.json", "*.safetensors", "*.onnx", "*.onnx_data", "*.model", "*.txt", "*.py"]
    try:
        return Path(snapshot_download(spec.location, allow_patterns=patterns))
    except Exception as first_error:  # noqa: BLE001 - any hub failure becomes one clear message
        try:
            return Path(snapshot_download(spec.location, allow_patterns=patterns, local_files_only=True))
        except Exception:  # noqa: BLE001
            raise ModelSpecError(
                f"model spec {spec.text!r}: could not fetch '{spec.location}' from the model hub and it is not in "
                f"the local Hugging Face cache ({type(first_error).__name__}: {str(first_error)[:200]}). "
                "This machine may be offline: download the model elsewhere and pass its local directory, "
                "or use the embedded zoo (zoo:tiny-code)") from None


def materialize(spec: ModelSpec) -> tuple[Path, str, str]:
    """Returns (directory, kind, fingerprint) after applying every derivation of the spec.

    A spec naming a .gguf file gives that file as the "directory", of kind "gguf".
    """
    directory = resolve_source(spec)
    if spec.scheme == "path" and directory.suffix.lower() == ".gguf":
        from codeguard.backends.gguf import gguf_file_fingerprint
        kind, fingerprint = "gguf", gguf_file_fingerprint(directory, spec.text)
    else:
        kind = directory_kind(directory, spec.text)
        fingerprint = directory_fingerprint(directory)
    for derivation in spec.derivations:
        directory, kind, fingerprint = derive(directory, kind, fingerprint, derivation, spec.text)
    return directory, kind, fingerprint


def load_model(spec_text: str | ModelSpec, batch_size: int = 16) -> LanguageModel:
    """Loads any spec string (`./dir`, `./model.gguf`, `hf:ORG/NAME`, `zoo:NAME`, with `@derivation` suffixes, or a
    served model `openai:URL#MODEL?tokenizer=SPEC`)."""
    spec = spec_text if isinstance(spec_text, ModelSpec) else parse_spec(spec_text)
    if spec.scheme == "openai":  # a served model: nothing to materialize locally but its tokenizer
        from codeguard.backends.openai_endpoint import OpenAIEndpointLM
        return OpenAIEndpointLM.connect(spec.text)
    directory, kind, fingerprint = materialize(spec)
    if kind == "gguf":
        from codeguard.backends.gguf import GGUFCausalLM
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
