"""ref's pass@k completions generated once and reused by the next gate of any candidate against the same reference,
problems and sampling settings (probes/reference_completions.py); anything else generates anew."""
import json

import pytest

from codeguard.models import load_model
from codeguard.probes import pass_at_k
from codeguard.probes.pass_at_k import PassAtKConfig, run_pass_at_k
from codeguard.probes.reference_completions import CompletionStore, cacheable

CONFIG = PassAtKConfig(problems="humaneval:3", n_samples=2, ks=(1,), max_new_tokens=48, workers=1)


@pytest.fixture(scope="module")
def pair():
    return load_model("zoo:tiny-code-he"), load_model("zoo:tiny-code-he")


def test_the_second_gate_reuses_refs_completions_and_scores_the_same(pair, tmp_path, monkeypatch):
    ref, opt = pair
    store = CompletionStore(tmp_path)
    first = run_pass_at_k(ref, opt, CONFIG, progress=False, completion_store=store)
    assert first.ref_completions_reused is None and len(list(tmp_path.glob("*.json"))) == 1
    generated = []
    generate = pass_at_k.generation.generate_completions
    monkeypatch.setattr(pass_at_k.generation, "generate_completions",
                        lambda model, *a, **k: generated.append(model.spec) or generate(model, *a, **k))
    second = run_pass_at_k(ref, opt, CONFIG, progress=False, completion_store=store)
    assert len(generated) == 1  # opt's completions only
    assert second.ref_completions_reused == str(next(tmp_path.glob("*.json")))
    assert second.samples == first.samples and second.metrics == first.metrics
    assert any("ref's completions: reused from" in note for note in second.gate_notes())


def test_another_seed_or_sampling_setting_generates_anew(pair, tmp_path):
    ref, opt = pair
    store = CompletionStore(tmp_path)
    run_pass_at_k(ref, opt, CONFIG, progress=False, completion_store=store)
    for other in (PassAtKConfig(**{**CONFIG.__dict__, "seed": 1}),
                  PassAtKConfig(**{**CONFIG.__dict__, "temperature": 0.6})):
        assert run_pass_at_k(ref, opt, other, progress=False, completion_store=store).ref_completions_reused is None
    assert len(list(tmp_path.glob("*.json"))) == 3


def test_a_damaged_store_file_is_never_trusted(pair, tmp_path):
    ref, opt = pair
    store = CompletionStore(tmp_path)
    first = run_pass_at_k(ref, opt, CONFIG, progress=False, completion_store=store)
    path = next(tmp_path.glob("*.json"))
    data = json.loads(path.read_text())
    task = next(iter(data["completions"]))
    data["completions"][task] = data["completions"][task][:1]  # one completion short
    path.write_text(json.dumps(data))
    again = run_pass_at_k(ref, opt, CONFIG, progress=False, completion_store=store)
    assert again.ref_completions_reused is None and again.samples == first.samples
    assert len(json.loads(path.read_text())["completions"][task]) == CONFIG.n_samples  # rewritten whole


def test_only_references_whose_fingerprint_names_their_weights_are_stored(pair):
    ref, _ = pair
    assert cacheable(ref)

    class Endpoint:
        fingerprint = "endpoint-sha256:abc"

    assert not cacheable(Endpoint())
