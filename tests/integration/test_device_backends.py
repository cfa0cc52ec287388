"""Devices end to end on real backends: what each does with a GPU it cannot use (checked on this machine's own
onnxruntime and llama-cpp-python builds), and CPU loading as before."""
import onnxruntime
import pytest
import torch

from codeguard import load_model
from codeguard.errors import DeviceError
from codeguard.models.devices import Placement

NAMED_GPU = Placement("cuda", "cuda:0", 1, option="--codeguard-device")   # as if the user asked for a GPU
AUTO_GPU = Placement("auto", "cuda:0", 1, option="--codeguard-device")    # as if auto had found one


def test_cpu_loading_is_todays_float32():
    model = load_model("zoo:tiny-code", device="cpu")
    assert model.details["device"] == "cpu" and next(model.model.parameters()).dtype == torch.float32
    assert next(load_model("zoo:tiny-code@bf16", device="cpu", dtype="float32").model.parameters()).dtype == \
        torch.bfloat16  # the derivation is what is gated: it wins over the request


def test_dtype_request_applies_on_the_cpu():
    model = load_model("zoo:tiny-code", device="cpu", dtype="bf16")
    assert next(model.model.parameters()).dtype == torch.bfloat16


@pytest.mark.skipif("CUDAExecutionProvider" in onnxruntime.get_available_providers(),
                    reason="onnxruntime-gpu is installed here")
def test_onnx_on_a_named_gpu_without_onnxruntime_gpu_says_what_to_install():
    with pytest.raises(DeviceError) as error:
        load_model("zoo:tiny-code@onnx-int8", device=NAMED_GPU)
    message = str(error.value)
    assert message.startswith(f"--codeguard-device cuda: ONNX Runtime {onnxruntime.__version__} cannot run on "
                              "cuda:0: its CUDA execution provider is not installed (providers: ")
    assert "install onnxruntime-gpu in place of onnxruntime" in message and "--codeguard-device cpu" in message
    # under auto the ONNX model stays on the CPU and says so
    assert load_model("zoo:tiny-code@onnx-int8", device=AUTO_GPU).details["device"] == "cpu"


def test_dynamic_int8_on_a_named_gpu_is_an_error():
    with pytest.raises(DeviceError, match=r"^--codeguard-device cuda: torch dynamic int8 \(@dynamic-int8\) cannot "
                                          r"run on cuda:0: its quantized kernels run on the CPU only"):
        load_model("zoo:tiny-code@dynamic-int8", device=NAMED_GPU)
    assert load_model("zoo:tiny-code@dynamic-int8", device=AUTO_GPU).details["device"] == "cpu"


@pytest.mark.slow
def test_gguf_on_a_named_gpu_without_offload_support_says_how_to_rebuild():
    llama_cpp = pytest.importorskip("llama_cpp")
    if llama_cpp.llama_supports_gpu_offload():
        pytest.skip("this llama-cpp-python build offloads to a GPU")
    with pytest.raises(DeviceError, match=r"^--codeguard-device cuda: llama-cpp-python .*cannot run on cuda:0: this "
                                          r"build has no GPU offload .* CMAKE_ARGS=\"-DGGML_CUDA=on\""):
        load_model("zoo:tiny-code@gguf-f16", device=NAMED_GPU)
    model = load_model("zoo:tiny-code@gguf-f16", device=AUTO_GPU)
    assert model.details["device"] == "cpu" and model.details["n_threads"] >= 1


def test_onnx_on_a_gpu_with_onnxruntime_gpu_asks_for_the_cuda_provider_on_that_device(monkeypatch):
    """The half of the ONNX path this machine cannot run: with the CUDA execution provider present, the session is
    asked for it on the placement's device (ONNX Runtime's side is for a GPU machine with onnxruntime-gpu)."""
    from optimum.onnxruntime import ORTModelForCausalLM

    from codeguard.models.loading import _load_onnx
    from codeguard.models.resolve import materialize
    from codeguard.models.specs import parse_spec
    asked = {}
    monkeypatch.setattr(onnxruntime, "get_available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(ORTModelForCausalLM, "from_pretrained", lambda directory, **kwargs: asked.update(kwargs))
    directory, kind, _ = materialize(parse_spec("zoo:tiny-code@onnx-int8"))
    on_gpu = Placement("cuda", "cuda:1", 2, option="--codeguard-device")
    assert kind == "onnx" and _load_onnx(directory, on_gpu)[1] == "cuda:1"
    assert asked["provider"] == "CUDAExecutionProvider" and asked["provider_options"] == {"device_id": 1}
    assert _load_onnx(directory, AUTO_GPU)[1] == "cuda:0" and asked["provider_options"] == {"device_id": 0}


@pytest.mark.slow
def test_gguf_on_a_gpu_with_offload_asks_llama_cpp_for_every_layer_on_that_device(monkeypatch):
    """The half of the GGUF path this machine cannot run: a build that can offload gets every layer
    (n_gpu_layers=-1) on the placement's GPU, and the model says so. This CPU build ignores the request, so the
    logits are still the CPU model's."""
    llama_cpp = pytest.importorskip("llama_cpp")
    asked = {}
    real = llama_cpp.Llama

    def recording(**kwargs):
        asked.update(kwargs)
        return real(**kwargs)

    cpu = load_model("zoo:tiny-code@gguf-f16", device="cpu")
    monkeypatch.setattr(llama_cpp, "llama_supports_gpu_offload", lambda: True)
    monkeypatch.setattr(llama_cpp, "Llama", recording)
    model = load_model("zoo:tiny-code@gguf-f16", device=Placement("cuda", "cuda:1", 2, option="--codeguard-device"))
    assert asked["n_gpu_layers"] == -1 and asked["main_gpu"] == 1 and model.details["device"] == "cuda:1"
    window = [0, 5, 17, 300, 41]
    assert (next(model.sequence_logits([window])) == next(cpu.sequence_logits([window]))).all()
