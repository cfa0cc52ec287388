"""Backends and derivations on the real zoo: loading, batching, determinism, caching and bad inputs."""
import json
import os

import numpy as np
import pytest

from codeguard import load_model, run_cold_start
from codeguard.errors import ModelSpecError, NonFiniteLogitsError, ProbeInputError, VocabularyMismatchError
from codeguard.models.zoo import ZOO
from tests.helpers import set_bos

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny():
    return load_model("zoo:tiny-code")


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_entries_load_and_give_float64_distributions(name):
    model = load_model(f"zoo:{name}")
    lp = model.next_token_logprobs([[0], [0, 10, 20]])
    assert lp.dtype == np.float64 and lp.shape == (2, len(model.vocabulary()))
    assert np.allclose(np.exp(lp).sum(axis=1), 1.0)
    assert model.fingerprint.startswith("sha256:") and model.backend == "torch"
    assert model.special_tokens()["bos"] == 0


def test_batched_contexts_equal_single_contexts(tiny):
    """Left padding with explicit positions must not change any row."""
    contexts = [[0], [0, 5, 6, 7, 8, 9], [0, 100, 200]]
    batched = tiny.next_token_logprobs(contexts)
    for row, context in zip(batched, contexts):
        assert np.allclose(row, tiny.next_token_logprobs([context])[0], atol=1e-5)


@pytest.mark.parametrize("derivation, backend, max_kl", [
    ("fp16", "torch", 1e-3), ("bf16", "torch", 1e-2), ("dynamic-int8", "torch-dynamic-int8", 5e-2),
    ("onnx", "onnxruntime", 1e-8), ("onnx-int8", "onnxruntime", 5e-2), ("int4-rtn", "torch", 5.0)])
def test_derivations_build_load_and_are_cached(tiny, derivation, backend, max_kl):
    derived = load_model(f"zoo:tiny-code@{derivation}")
    assert derived.backend == backend
    assert derived.details["derivation"] == derivation
    assert derived.details["source_fingerprint"] == tiny.fingerprint
    manifest = os.path.join(derived.details["directory"], "codeguard-derivation.json")
    built_at = os.stat(manifest).st_mtime_ns
    again = load_model(f"zoo:tiny-code@{derivation}")
    assert os.stat(manifest).st_mtime_ns == built_at and again.fingerprint == derived.fingerprint
    result = run_cold_start(tiny, derived)
    assert 0 <= result.metrics["kl_ref_opt"] <= max_kl
    if derivation != "onnx":
        assert result.metrics["kl_ref_opt"] > 0  # the derivation really changed the model


def test_results_are_deterministic(tiny):
    opt = load_model("zoo:tiny-code@onnx-int8")
    assert run_cold_start(tiny, opt).metrics == run_cold_start(tiny, opt).metrics


def test_sampling_is_seeded(tiny):
    a = tiny.sample([[0]] * 3, max_new_tokens=8, seed=1)
    assert a == tiny.sample([[0]] * 3, max_new_tokens=8, seed=1)
    assert a != tiny.sample([[0]] * 3, max_new_tokens=8, seed=2)
    onnx = load_model("zoo:tiny-code@onnx")
    assert onnx.sample([[0]] * 3, max_new_tokens=8, seed=1) == a  # same logits, same sampler, same seed


def test_identical_models_have_zero_divergence(tiny):
    metrics = run_cold_start(tiny, load_model("zoo:tiny-code")).metrics
    assert metrics["kl_ref_opt"] == 0.0 and metrics["js_divergence"] == 0.0 and metrics["top1_agree"] == 1.0


def test_different_vocabularies_are_refused_naming_both(tiny, tmp_path):
    from transformers import LlamaConfig, LlamaForCausalLM

    from codeguard.zoo.train import train_tokenizer
    tokenizer = train_tokenizer(["def f(x):\n    return x\n" * 50, "int main(void) { return 0; }\n" * 50])
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2))
    model.save_pretrained(tmp_path / "other")
    tokenizer.save_pretrained(tmp_path / "other")
    with pytest.raises(VocabularyMismatchError) as info:
        run_cold_start(tiny, load_model(str(tmp_path / "other")))
    message = str(info.value)
    assert "reference zoo:tiny-code (" in message and f"optimized {tmp_path / 'other'} (" in message
    assert "first difference at token id" in message


def test_start_ids_must_match(tiny, zoo_copy):
    set_bos(zoo_copy, "<pad>")
    with pytest.raises(ProbeInputError, match=r"different start ids: zoo:tiny-code gets \[0\] .* gets \[1\]"):
        run_cold_start(tiny, load_model(str(zoo_copy)))


def test_unknown_start_token_is_named(tiny):
    from codeguard.probes.cold_start import ColdStartConfig
    with pytest.raises(ProbeInputError, match="start token '<nope>' is not in the vocabulary of zoo:tiny-code"):
        run_cold_start(tiny, tiny, ColdStartConfig(start_token="<nope>"))


def test_nan_weights_raise_a_clear_error(tiny, zoo_copy):
    from safetensors.torch import load_file, save_file
    weights = load_file(zoo_copy / "model.safetensors")
    weights["model.norm.weight"][:] = float("inf")
    save_file(weights, zoo_copy / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(NonFiniteLogitsError, match="non-finite logits"):
        run_cold_start(tiny, load_model(str(zoo_copy)))


def test_bad_directories(tmp_path, zoo_copy):
    with pytest.raises(ModelSpecError, match="does not exist"):
        load_model(str(tmp_path / "missing"))
    (tmp_path / "file.bin").write_bytes(b"x")
    with pytest.raises(ModelSpecError, match="is a file, not a model directory"):
        load_model(str(tmp_path / "file.bin"))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text("{}")
    with pytest.raises(ModelSpecError, match="is neither a transformers model .* nor an Optimum ONNX export"):
        load_model(str(tmp_path / "empty"))
    with pytest.raises(ModelSpecError, match="no such zoo entry; available: zoo:tiny-code"):
        load_model("zoo:tiny-codex")
    (zoo_copy / "config.json").write_text(json.dumps({"model_type": "no-such-arch"}))
    with pytest.raises(ModelSpecError, match="transformers cannot load"):
        load_model(str(zoo_copy))


def test_derivation_after_onnx_is_refused():
    with pytest.raises(ModelSpecError, match="'@int4-rtn' needs a PyTorch .* model as its input"):
        load_model("zoo:tiny-code@onnx@int4-rtn")


def test_hub_id_offline_fails_fast_with_a_clear_message():
    with pytest.raises(ModelSpecError, match="could not fetch 'bigcode/tiny_starcoder_py' from the model hub"):
        load_model("hf:bigcode/tiny_starcoder_py")


def test_streaming_does_not_leave_inference_mode_on(tiny):
    import torch
    stream = tiny.sequence_logprobs([[0, 1, 2], [0, 3]])
    first = next(stream)
    assert first.shape == (3, len(tiny.vocabulary())) and not torch.is_inference_mode_enabled()
    assert next(stream).shape[0] == 2


def test_vocabulary_is_built_once_and_callers_cannot_change_it(tiny):
    first = tiny.vocabulary()
    first[0] = "mutated by a caller"
    second = tiny.vocabulary()
    assert second[0] == tiny.hf_tokenizer.convert_ids_to_tokens(0) and second[1:] == first[1:]
