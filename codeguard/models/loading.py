"""Turns a spec string into a loaded LanguageModel: resolve its files (`resolve`), then load them by kind."""
from __future__ import annotations

import warnings
from pathlib import Path

from codeguard.errors import ModelSpecError
from codeguard.models.derive.derivations import apply_dynamic_int8, read_manifest
from codeguard.models.devices import CPU, Placement, device_map, resolve_placement, torch_dtype_name, weight_bytes
from codeguard.models.env_settings import available_cores, positive_int_from_env
from codeguard.models.gguf import GGUFCausalLM
from codeguard.models.openai_endpoint import OpenAIEndpointLM
from codeguard.models.protocol import LanguageModel
from codeguard.models.resolve import materialize
from codeguard.models.specs import ModelSpec, parse_spec


def load_model(spec_text: str | ModelSpec, batch_size: int = 16, device: str | Placement = "auto",
               dtype: str = "auto", alone: bool = False) -> LanguageModel:
    """Loads any spec string (`./dir`, `./model.gguf`, `hf:ORG/NAME`, `zoo:NAME`, with `@derivation` suffixes, or a
    served model `openai:URL#MODEL?tokenizer=SPEC`) onto `device` (`auto`, `cpu`, `cuda`, `cuda:N`, `mps`, or a
    Placement already resolved, whose dtype then applies) in `dtype` (`auto`: the checkpoint's own on a GPU,
    float32 on the CPU; a derivation's dtype such as @bf16 always wins). `alone`: no other model will score beside
    this one (its reference comes from a cache), so a backend that leaves cores for a second model takes them all
    (ONNX Runtime; see `_load_onnx`)."""
    spec = spec_text if isinstance(spec_text, ModelSpec) else parse_spec(spec_text)
    if spec.scheme == "openai":  # a served model: nothing to materialize locally but its tokenizer
        return OpenAIEndpointLM.connect(spec.text)
    placement = device if isinstance(device, Placement) else resolve_placement(device, dtype)
    directory, kind, fingerprint = materialize(spec)
    if kind == "gguf":
        manifest = {} if directory.is_file() else read_manifest(directory)
        path = directory if directory.is_file() else directory / manifest["file_name"]
        return GGUFCausalLM.load(path, spec.text, fingerprint, details=manifest, placement=placement)
    from codeguard.models.hf import HFCausalLM  # torch and transformers: not on a GGUF pair's way
    tokenizer = _load_tokenizer(directory, spec.text)
    if kind == "onnx":
        (model, used), backend = _load_onnx(directory, placement, alone), "onnxruntime"
    elif kind == "torch-dynamic-int8":
        # torch's dynamic int8 kernels are CPU kernels: a GPU is an error when named, ignored under auto
        if placement.explicit and placement.is_gpu:
            raise placement.unusable("torch dynamic int8 (@dynamic-int8)", "its quantized kernels run on the CPU only",
                                     "gate an ONNX Runtime or GGUF int8 variant on the GPU instead")
        model, backend, used = apply_dynamic_int8(_load_torch(directory, spec.text, CPU)), "torch-dynamic-int8", "cpu"
    else:
        model, backend = _load_torch(directory, spec.text, placement), "torch"
        used = _torch_devices(model)
    details = {"directory": str(directory), "kind": kind, **read_manifest(directory), "device": used}
    return HFCausalLM(spec=spec.text, fingerprint=fingerprint, backend=backend, model=model,
                      hf_tokenizer=tokenizer, details=details, batch_size=batch_size,
                      token_budget=token_budget(gpu=backend == "torch" and used != "cpu"))


GPU_TOKEN_BUDGET = 1 << 15  # 63 windows of 512 + a start token; memory decides the rest


def token_budget(gpu: bool = False) -> int:
    """Padded tokens per forward pass of transformers and ONNX models: `$CODEGUARD_TOKEN_BUDGET`, else 4096 on the
    host and GPU_TOKEN_BUDGET for a transformers model on a GPU (where a call's time is launch overhead more than
    arithmetic; windows per call are bounded by free memory too, `models/window_batches.py`). Not for ONNX Runtime
    on a GPU: its graphs compute every position's logits for keyword prefixes too (no `logits_to_keep`), which at
    32,768 tokens and 152 k would be 20 GB a call.

    Batch composition moves dynamically quantized models (ONNX Runtime's and torch's int8 quantize activations
    per tensor, over the whole batch), so `codeguard calibrate` varies it; a gate keeps the default."""
    from codeguard.models.hf import HFCausalLM
    return positive_int_from_env("CODEGUARD_TOKEN_BUDGET", "tokens") or (
        GPU_TOKEN_BUDGET if gpu else HFCausalLM.token_budget)


def _load_tokenizer(directory: Path, spec_text: str):
    from transformers import AutoTokenizer
    try:
        tokenizer = AutoTokenizer.from_pretrained(directory)
    except Exception as error:  # noqa: BLE001
        raise ModelSpecError(f"model spec {spec_text!r}: cannot load a tokenizer from {directory}: {error}") from None
    tokenizer.model_input_names = ["input_ids", "attention_mask"]
    return tokenizer


def _load_torch(directory: Path, spec_text: str, placement: Placement):
    import torch
    from transformers import AutoModelForCausalLM
    dtype_name = torch_dtype_name(placement, read_manifest(directory).get("dtype"))
    kwargs = {"dtype": dtype_name if dtype_name == "auto" else getattr(torch, dtype_name)}
    spread = None
    if placement.is_gpu:
        free = torch.cuda.mem_get_info(placement.cuda_index)[0] if placement.cuda_index is not None else None
        spread = device_map(placement, weight_bytes(directory, dtype_name), free)
        if spread:
            kwargs["device_map"] = spread  # accelerate places the layers over the GPUs (and the CPU if need be)
    try:
        model = AutoModelForCausalLM.from_pretrained(directory, **kwargs)
    except Exception as error:  # noqa: BLE001
        raise ModelSpecError(f"model spec {spec_text!r}: transformers cannot load {directory}: {error}") from None
    if placement.is_gpu and not spread:
        model = model.to(placement.device)
    return model.eval()


def _torch_devices(model) -> str:
    """Where a transformers model's weights are: one device, or accelerate's spread (`cuda:0+cuda:1+cpu`)."""
    spread = getattr(model, "hf_device_map", None)
    if spread and len(set(spread.values())) > 1:
        names = [f"cuda:{d}" if isinstance(d, int) else str(d) for d in dict.fromkeys(spread.values())]
        return "+".join(names)
    return str(next(model.parameters()).device)


def _load_onnx(directory: Path, placement: Placement, alone: bool = False):
    """An Optimum ONNX Runtime model on the CPU, or on a CUDA GPU through onnxruntime-gpu's CUDA execution provider.
    Returns (model, device used).

    Intra-op threads: `$CODEGUARD_ORT_THREADS` when set; else every core for a model `alone` (its reference comes
    from a cache), and one for a model that scores beside another (the corpus probes run REF and OPT in threads side
    by side: the other cores are the reference's). The count does not change the outputs (MLAS splits a product by
    output blocks; a dynamic int8 scale is a min/max, exact in any order): the zoo's `@onnx-int8` gives the same
    gate metrics, bit for bit, on one thread and two (tests/integration/test_reference_cache.py)."""
    import onnxruntime
    from optimum.onnxruntime import ORTModelForCausalLM
    options = onnxruntime.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.intra_op_num_threads = positive_int_from_env("CODEGUARD_ORT_THREADS", "threads") or (
        available_cores() if alone else 1)
    file_name = read_manifest(directory).get("file_name")
    if file_name is None:
        onnx_files = sorted(p.name for p in directory.glob("*.onnx"))
        file_name = "model.onnx" if "model.onnx" in onnx_files else onnx_files[0]
    provider, provider_options, used = "CPUExecutionProvider", None, "cpu"
    if placement.cuda_index is not None:
        available = onnxruntime.get_available_providers()
        if "CUDAExecutionProvider" in available:
            provider, provider_options = "CUDAExecutionProvider", {"device_id": placement.cuda_index}
            used = placement.device
        elif placement.explicit:
            raise placement.unusable(f"ONNX Runtime {onnxruntime.__version__}",
                                     f"its CUDA execution provider is not installed (providers: {', '.join(available)})",
                                     "install onnxruntime-gpu in place of onnxruntime "
                                     "(pip uninstall onnxruntime && pip install onnxruntime-gpu)")
    elif placement.device == "mps" and placement.explicit:
        raise placement.unusable(f"ONNX Runtime {onnxruntime.__version__}", "codeguard runs ONNX models on the CPU or "
                                 "CUDA only", "gate the transformers model on mps")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ORTModelForCausalLM.from_pretrained(directory, file_name=file_name, session_options=options,
                                                    provider=provider, provider_options=provider_options)
    return model, used
