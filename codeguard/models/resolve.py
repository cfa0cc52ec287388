"""Spec -> files: where a model spec's files are (zoo, hub, path) and what they become after its derivations.

Loading (`codeguard.models.loading`) and tokenizer loading both start here, so neither needs the other.
"""
from __future__ import annotations

import os
from pathlib import Path

from codeguard.errors import ModelSpecError
from codeguard.models.derive.derivations import derive, read_manifest
from codeguard.models.derive.fingerprint import directory_fingerprint, gguf_file_fingerprint
from codeguard.models.specs import ACCEPTED_FORMS, ModelSpec
from codeguard.models.zoo import zoo_path


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
        kind, fingerprint = "gguf", gguf_file_fingerprint(directory, spec.text)
    else:
        kind = directory_kind(directory, spec.text)
        fingerprint = directory_fingerprint(directory)
    for derivation in spec.derivations:
        directory, kind, fingerprint = derive(directory, kind, fingerprint, derivation, spec.text)
    return directory, kind, fingerprint
