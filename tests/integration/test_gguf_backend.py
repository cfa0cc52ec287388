"""The GGUF backend and @gguf-* derivations on the real zoo model with real llama.cpp (the `gguf` extra).

Tests that need llama.cpp skip through `pytest.importorskip` where the extra is not installed; `.ci/run` installs
it, so in CI they run. The converter comes from the llama-cpp-python sdist on PyPI, fetched once per session.
"""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from codeguard import load_model, run_cold_start
from codeguard.errors import ModelSpecError, NonFiniteLogitsError, ProbeInputError
from codeguard.languages.corpus import load_corpus
from codeguard.models.derive.fingerprint import file_sha256
from codeguard.models.specs import parse_spec
from codeguard.probes.corpus.teacher_forced import encode_corpus, make_windows

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def llama_cpp():
    return pytest.importorskip("llama_cpp", reason="the gguf extra (llama-cpp-python) is not installed")


@pytest.fixture(scope="module")
def ref():
    return load_model("zoo:tiny-code")


@pytest.fixture(scope="module")
def f16(llama_cpp):
    return load_model("zoo:tiny-code@gguf-f16")


@pytest.fixture(scope="module")
def corpus_windows(ref):
    """Three 256-token windows from each of four languages of the shipped corpus, as the corpus probes cut them."""
    corpus = load_corpus()
    files = encode_corpus(ref.fast_tokenizer, corpus)
    windows = []
    for language in ("python", "c", "java", "javascript"):
        chosen = [f for f in files if f.language == language]
        windows += [w.ids for w in make_windows(chosen, ref.start_ids()[0], 256)][:3]
    assert len(windows) == 12
    return windows


def test_f16_is_the_same_model_on_another_engine(ref, f16, corpus_windows):
    assert f16.backend == "llama.cpp" and ref.backend == "torch"
    assert f16.vocabulary() == ref.vocabulary() and f16.special_tokens() == ref.special_tokens()
    cold = run_cold_start(ref, f16)
    assert cold.start_ids == [0] and cold.start_source == "bos:<|endoftext|>"
    assert 0 < cold.metrics["kl_ref_opt"] < 1e-5
    agree = total = 0
    for ref_logits, gguf_logits in zip(ref.sequence_logits(corpus_windows), f16.sequence_logits(corpus_windows)):
        assert gguf_logits.dtype == np.float32 and gguf_logits.shape == ref_logits.shape
        agree += int((ref_logits.argmax(-1).numpy() == gguf_logits.argmax(-1)).sum())
        total += len(ref_logits)
    assert total == 12 * 256 and agree / total >= 0.999


def test_logits_from_a_first_row_are_those_rows_of_the_whole_window(f16, corpus_windows):
    """min_context's saving: llama.cpp computes the output layer only for rows marked as outputs, bit for bit the
    same numbers; a window with no row from there on is refused by name."""
    full = list(f16.sequence_logits(corpus_windows[:2]))
    part = list(f16.sequence_logits(corpus_windows[:2], 200))
    for whole, later in zip(full, part):
        assert later.shape == (whole.shape[0] - 200, whole.shape[1]) and np.array_equal(later, whole[200:])
    with pytest.raises(ProbeInputError, match="window 0 has 3 tokens, none from position 3 on"):
        next(f16.sequence_logits([[0, 1, 2]], 3))


def _gguf_pair_script(tmp_path, body: str) -> list[str]:
    """Runs `body` in a fresh interpreter beside a one-file corpus (`corpus`, a TeacherForcedConfig at ctx 32) and
    the zoo's f16 and q4_k_m GGUFs (derived here first: a derivation needs torch); its printed lines."""
    import subprocess
    load_model("zoo:tiny-code@gguf-q4_k_m")
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "a.py").write_text("def f(x):\n    return x + 1\n" * 4)
    script = ("import sys\n"
              "from codeguard import load_model\n"
              "from codeguard.probes.corpus.runner import run_corpus_probes\n"
              "from codeguard.probes.corpus.teacher_forced import TeacherForcedConfig\n"
              f"config = TeacherForcedConfig(ctx=32, corpus={str(tmp_path / 'corpus')!r})\n"
              "imported = lambda: [m for m in ('transformers', 'torch') if m in sys.modules]\n" + body)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.split("\n")


def test_a_gguf_pairs_distribution_probes_never_import_transformers_or_torch(f16, tmp_path):
    """Start-up and memory: importing transformers for the tokenizer wrapper was ~1.5 s of a GGUF gate, and torch
    another 1.2 s and 0.19 GB of its peak (bench/bench_llama_parity.py); the corpus probes encode with the GGUF
    tokenizer's own backend and reduce llama.cpp's numpy logits in numpy. On the CPU, as asked (`auto` asks torch
    on a machine with a GPU driver)."""
    printed = _gguf_pair_script(tmp_path, (
        "ref = load_model('zoo:tiny-code@gguf-f16', device='cpu')\n"
        "opt = load_model('zoo:tiny-code@gguf-q4_k_m', device='cpu')\n"
        "results = run_corpus_probes(ref, opt, config)\n"
        "from codeguard.probes.cold_start import run_cold_start\n"
        "from codeguard.probes.keyword_mass import run_keyword_mass\n"
        "results.update(cold_start=run_cold_start(ref, opt), keyword_mass=run_keyword_mass(ref, opt))\n"
        "print(sorted(results), imported())\n"))
    assert printed[0] == "['cold_start', 'corpus-kld', 'keyword-shift', 'keyword_mass'] []"


def test_a_gguf_reference_scored_first_never_imports_torch_and_gives_the_live_numbers(f16, tmp_path):
    """--reference-first on a GGUF pair: REF's exact cache is written from llama.cpp's numpy rows, and freeing REF
    imported torch only to empty a CUDA cache a torch-less process cannot have (1 s and 0.19 GB of the llama.cpp
    parity bench's reference-first run). The replay's numbers are the live pair's."""
    printed = _gguf_pair_script(tmp_path, (
        "from codeguard.probes.reference_cache.first import score_reference_first\n"
        "cache = score_reference_first(lambda: load_model('zoo:tiny-code@gguf-f16', device='cpu'),\n"
        f"                              {str(tmp_path / 'cache')!r}, corpus_config=config)\n"
        "opt = load_model('zoo:tiny-code@gguf-q4_k_m', device='cpu')\n"
        "first, cold = cache.corpus_probes(opt, config), cache.cold_start(opt)\n"
        "print(imported())\n"
        "live = run_corpus_probes(load_model('zoo:tiny-code@gguf-f16', device='cpu'), opt, config)\n"
        "same = [{k: v for k, v in r[p].to_dict().items() if k != 'ref'} for r in (first, live) for p in r]\n"
        "print(same[:2] == same[2:], sorted(first), cold.metrics['kl_ref_opt'] > 0)\n"))
    assert printed[:2] == ["[]", "True ['corpus-kld', 'keyword-shift'] True"]


def test_files_of_one_vocabulary_share_their_tokenizers_while_a_model_holds_them(f16):
    """A model and its quantization hold one tokenizer (0.06 GB and 0.3 s a model at 49,152 tokens); another
    vocabulary gets its own, and they go with the last model that holds them."""
    import gc
    import weakref

    from codeguard.models.gguf import shared_tokenizers
    from codeguard.tokenization.gguf import read_gguf_metadata
    q4 = load_model("zoo:tiny-code@gguf-q4_k_m")
    assert q4.tokenizers is f16.tokenizers and q4.fast_tokenizer is f16.fast_tokenizer
    assert q4.hf_tokenizer is f16.hf_tokenizer and q4.tokens is f16.tokens
    metadata = read_gguf_metadata(q4.path)
    other = {**metadata, "tokenizer.ggml.merges": metadata["tokenizer.ggml.merges"][:-1]}
    alone = shared_tokenizers(q4.path, other)
    assert alone is not f16.tokenizers and shared_tokenizers(q4.path, other) is alone
    gone = weakref.ref(alone)
    del alone
    gc.collect()
    assert gone() is None
    assert shared_tokenizers(q4.path, metadata) is f16.tokenizers


def test_quantization_levels_order_by_bits(ref, f16):
    kl = {name: run_cold_start(ref, load_model(f"zoo:tiny-code@gguf-{name}")).metrics["kl_ref_opt"]
          for name in ("q8_0", "q4_k_m", "q2_k")}
    f16_kl = run_cold_start(ref, f16).metrics["kl_ref_opt"]
    assert f16_kl < kl["q8_0"] < kl["q4_k_m"] < kl["q2_k"] < 0.1, kl


def test_tokenizer_is_llama_cpps_and_the_source_models(ref, f16):
    """The backend's ids equal llama.cpp's own tokenize and the HF reference tokenizer on the whole shipped corpus."""
    corpus = load_corpus()
    n_tokens = 0
    for file in corpus.files:
        ours = f16.tokenizer(file.text, add_special_tokens=False)["input_ids"]
        assert ours == f16.llama.tokenize(file.text.encode(), add_bos=False, special=False), file.path.name
        assert ours == ref.tokenizer(file.text, add_special_tokens=False)["input_ids"], file.path.name
        n_tokens += len(ours)
    check = f16.details["tokenizer_check"]
    assert check == {"corpus": "shipped", "files": len(corpus.files), "tokens": n_tokens, "identical": True,
                     "pre_tokenizer": "gpt-2"}
    assert f16.tokenizer.decode(f16.tokenizer("x = 1\n")["input_ids"]) == "x = 1\n"


def test_tensor_types_are_read_back_and_fallbacks_named(llama_cpp, ref):
    from gguf import GGUFReader
    model = load_model("zoo:tiny-code@gguf-q4_k_m")
    details = model.details
    stored = {t.name: t.tensor_type.name for t in GGUFReader(model.path).tensors}
    assert details["tensor_types"] == stored and details["gguf_type"] == "q4_k_m"
    assert details["tensor_type_counts"]["Q4_K"] > 0 and sum(details["tensor_type_counts"].values()) == len(stored)
    # ffn_down rows are 688 wide, not a multiple of 256: llama.cpp stores those in F16 and says so only in its log.
    assert details["float_fallbacks"] == [f"blk.{i}.ffn_down.weight" for i in range(4)]
    assert all(stored[name] == "F16" for name in details["float_fallbacks"])
    assert details["source_fingerprint"] == ref.fingerprint and details["llama_cpp_python"] == "0.3.36"
    assert load_model("zoo:tiny-code@gguf-f16").details["float_fallbacks"] == []


def test_derivation_is_cached_and_its_file_loads_as_a_gguf_spec(f16, corpus_windows):
    manifest = f16.path.parent / "codeguard-derivation.json"
    built_at = manifest.stat().st_mtime_ns
    again = load_model("zoo:tiny-code@gguf-f16")
    assert manifest.stat().st_mtime_ns == built_at and again.fingerprint == f16.fingerprint
    by_path = load_model(str(f16.path))
    assert by_path.fingerprint == "sha256:" + file_sha256(f16.path) and by_path.backend == "llama.cpp"
    assert by_path.details["kind"] == "gguf" and by_path.max_context == 256
    first = next(f16.sequence_logits(corpus_windows[:1]))
    assert np.array_equal(first, next(by_path.sequence_logits(corpus_windows[:1])))


def test_logits_are_deterministic_and_consistent(f16, corpus_windows):
    windows = corpus_windows[:2]
    once = [t.copy() for t in f16.sequence_logits(windows)]
    assert all(np.array_equal(a, b) for a, b in zip(once, f16.sequence_logits(windows)))
    logprobs = list(f16.sequence_logprobs(windows))
    assert logprobs[0].dtype == np.float64 and np.allclose(np.exp(logprobs[0]).sum(-1), 1.0)
    contexts = [windows[0][:10], windows[1][:37], [0]]
    next_lp = f16.next_token_logprobs(contexts)
    assert next_lp.shape == (3, 8192) and next_lp.dtype == np.float64
    assert np.allclose(next_lp[0], logprobs[0][9], atol=1e-6) and np.allclose(next_lp[1], logprobs[1][36], atol=1e-6)


def test_sequence_logits_are_llama_evals_bit_for_bit(f16, corpus_windows):
    """sequence_logits reads llama.cpp's output buffer itself instead of Llama.eval's copy: the same numbers, a fresh
    KV cache per window (a shorter window after a longer one), and sampling afterwards starts from a clean state."""
    windows = [corpus_windows[0], corpus_windows[1][:17], corpus_windows[0][:40], corpus_windows[-1]]
    direct = list(f16.sequence_logits(windows))
    for window, logits in zip(windows, direct):
        assert logits.shape == (len(window), 8192) and logits.dtype == np.float32
        f16.llama.reset()
        f16.llama.eval(window)
        assert np.array_equal(logits, f16.llama.scores[:len(window)])
    start = [f16.start_ids()[0]]
    before = f16.sample(start, max_new_tokens=8, temperature=0.8, seed=3)
    list(f16.sequence_logits(windows[:1]))
    assert f16.sample(start, max_new_tokens=8, temperature=0.8, seed=3) == before


def test_sampling_is_seeded_and_stops_like_the_torch_backend(ref, f16):
    start = [ref.start_ids()[0]] * 3
    first = f16.sample(start, max_new_tokens=24, temperature=0.8, top_p=0.95, seed=7)
    assert first == f16.sample(start, max_new_tokens=24, temperature=0.8, top_p=0.95, seed=7)
    assert first != f16.sample(start, max_new_tokens=24, temperature=0.8, top_p=0.95, seed=8)
    assert all(len(row) <= 24 and 0 not in row for row in first)
    greedy = f16.sample(start[:1], max_new_tokens=12, temperature=0)[0]
    assert greedy[:8] == ref.sample(start[:1], max_new_tokens=12, temperature=0)[0][:8]
    stopped = f16.sample(start[:1], max_new_tokens=40, temperature=0, stop_strings=["\n"])[0]
    text = f16.tokenizer.decode(stopped)
    assert "\n" in text and "\n" not in f16.tokenizer.decode(stopped[:-1])
    room = f16.sample([[0] * 250], max_new_tokens=50, temperature=0)[0]
    # positions 250..255 are fed back; the token after position 255 is the last one the context can predict
    assert len(room) == 7


def llama_eval_samples(model, contexts, max_new_tokens, temperature, top_p, seed, stop_strings=()):
    """sample() as it was written first: each row scores its whole prompt through `Llama.eval` (every position's
    logits) and steps through it, reading Llama.eval's copy of the logits."""
    from codeguard.models.gguf import _choose
    from codeguard.models.sampling import row_generators
    samples = []
    for row, context in enumerate(contexts):
        rng = row_generators([(seed, row)])[0]
        model.llama.reset()
        model.llama.eval(context)
        logits, new = model.llama.scores[len(context) - 1], []
        while len(new) < max_new_tokens:
            token = _choose(logits.astype(np.float64), temperature, top_p, rng)
            if token == model.special.get("eos"):
                break
            new.append(token)
            if any(s in model.hf_tokenizer.decode(new) for s in stop_strings) or model.llama.n_tokens >= 256:
                break
            model.llama.eval([token])
            logits = model.llama.scores[model.llama.n_tokens - 1]
        samples.append(new)
    return samples


@pytest.mark.parametrize("temperature, top_p", [(0.0, 1.0), (0.8, 0.95), (1.0, 1.0)])
def test_a_prompt_shared_by_rows_is_scored_once_and_the_samples_are_those_of_scoring_it_per_row(
        f16, corpus_windows, temperature, top_p):
    """sample() scores a prompt once for the rows that share it (only its last position's logits) and steps with
    llama.cpp's output buffer; the tokens are those of scoring the whole prompt again per row through Llama.eval."""
    a, b = corpus_windows[0][:30], corpus_windows[1][:12]
    contexts = [a, a, a, b, b, a, corpus_windows[0][:250]]
    ours = f16.sample(contexts, max_new_tokens=20, temperature=temperature, top_p=top_p, seed=5,
                      stop_strings=["\n\n"])
    assert ours == llama_eval_samples(f16, contexts, 20, temperature, top_p, 5, ["\n\n"])
    assert sum(map(len, ours)) > 40 and len(ours[-1]) <= 7


def test_a_cache_that_cannot_drop_a_rows_tokens_scores_the_prompt_again(f16, corpus_windows, monkeypatch):
    """A recurrent model's state cannot be cut back to the end of the prompt (llama_memory_seq_rm returns False):
    each row then scores the prompt afresh, with the same samples. Here a transformer's cache says it cannot."""
    a = corpus_windows[0][:30]
    contexts, scored = [a, a, a], []
    shared = f16.sample(contexts, max_new_tokens=12, temperature=0.8, seed=2)
    real_rm, real_decode = f16.llama._ctx.kv_cache_seq_rm, f16._decode
    monkeypatch.setattr(f16.llama._ctx, "kv_cache_seq_rm", lambda seq, p0, p1: real_rm(seq, p0, p1) and p0 == 0)
    monkeypatch.setattr(f16, "_decode", lambda *args: scored.append(args) or real_decode(*args))
    assert f16.sample(contexts, max_new_tokens=12, temperature=0.8, seed=2) == shared
    assert len(scored) == 3 == len(contexts)
    monkeypatch.undo()
    monkeypatch.setattr(f16, "_decode", lambda *args: scored.append(args) or real_decode(*args))
    assert f16.sample(contexts, max_new_tokens=12, temperature=0.8, seed=2) == shared and len(scored) == 4


def test_non_finite_logits_name_the_model(llama_cpp, zoo_copy):
    from safetensors.torch import load_file, save_file
    weights = load_file(zoo_copy / "model.safetensors")
    weights["model.norm.weight"][:] = float("inf")
    save_file(weights, zoo_copy / "model.safetensors", metadata={"format": "pt"})
    spec = f"{zoo_copy}@gguf-f16"
    broken = load_model(spec)
    with pytest.raises(NonFiniteLogitsError, match=rf"{spec} \(llama.cpp\) produced \d+ non-finite logits"):
        next(broken.sequence_logits([[0, 5, 6]]))


def test_bad_windows_are_refused_by_name(f16):
    with pytest.raises(ProbeInputError, match="has 300 tokens, more than the model's context of 256"):
        next(f16.sequence_logits([[0] * 300]))
    with pytest.raises(ProbeInputError, match="token id 9000 in window 0 is outside the vocabulary"):
        next(f16.sequence_logits([[0, 9000]]))
    with pytest.raises(ProbeInputError, match="at least one token"):
        f16.next_token_logprobs([[]])
    with pytest.raises(ProbeInputError, match="start token '<nope>' is not in the vocabulary of zoo:tiny-code@gguf"):
        f16.start_ids("<nope>")


def test_bad_gguf_specs_name_the_culprit(llama_cpp, tmp_path):
    with pytest.raises(ModelSpecError, match=r"GGUF file '.*missing\.gguf' does not exist"):
        load_model(str(tmp_path / "missing.gguf"))
    (tmp_path / "notes.gguf").write_text("these are notes, not a model\n" * 4)
    with pytest.raises(ModelSpecError, match=r"'.*notes\.gguf'.*notes\.gguf is not a GGUF file: it starts with"):
        load_model(str(tmp_path / "notes.gguf"))
    (tmp_path / "folder.gguf").mkdir()
    with pytest.raises(ModelSpecError, match="is not a file; a spec ending in .gguf names one GGUF model file"):
        load_model(str(tmp_path / "folder.gguf"))


def test_a_gguf_spec_takes_no_further_derivation(llama_cpp, f16):
    with pytest.raises(ModelSpecError, match="'@int4-rtn' needs a PyTorch .* but the step before it gives a gguf"):
        load_model("zoo:tiny-code@gguf-f16@int4-rtn")
    with pytest.raises(ModelSpecError, match="'@gguf-q8_0' needs a PyTorch"):
        load_model(f"{f16.path}@gguf-q8_0")


@pytest.mark.parametrize("suffix, message", [
    ("gguf-xyz", r"unknown GGUF type 'xyz'; known types: f32, f16, bf16, q8_0, .*q2_k"),
    ("gguf-Q4_K_M", r"GGUF type names are lower case: use '@gguf-q4_k_m'"),
    ("gguf-iq2_xxs", r"GGUF type 'iq2_xxs' needs an importance matrix"),
    ("gguf-", r"unknown GGUF type ''"),
])
def test_unknown_gguf_types_are_refused_at_parse_time(suffix, message):
    with pytest.raises(ModelSpecError, match=rf"model spec 'zoo:tiny-code@{suffix}': '@{suffix}': {message}"):
        parse_spec(f"zoo:tiny-code@{suffix}")


def test_every_listed_type_parses():
    from codeguard.models.derive.gguf_types import GGUF_TYPES
    for name in GGUF_TYPES:
        assert parse_spec(f"zoo:tiny-code@gguf-{name}").derivations == (f"gguf-{name}",)


def test_without_the_extra_a_gguf_spec_says_how_to_install_it(monkeypatch, tmp_path):
    """Simulates an environment without llama-cpp-python: importing it fails."""
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # `import llama_cpp` now raises ImportError
    model_file = tmp_path / "model.gguf"
    model_file.write_bytes(b"GGUF" + bytes(60))
    with pytest.raises(ModelSpecError, match=r"model spec '.*model\.gguf': llama-cpp-python is not installed .*"
                                             r"pip install 'codeguard\[gguf\]'"):
        load_model(str(model_file))


def test_manifest_is_json_with_the_recipe(f16):
    manifest = json.loads((f16.path.parent / "codeguard-derivation.json").read_text())
    assert manifest["kind"] == "gguf" and manifest["derivation"] == "gguf-f16"
    assert manifest["method"] == "convert_hf_to_gguf.py --outtype f16" and manifest["file_name"] == "model.gguf"


@pytest.fixture(scope="module")
def long_context_gguf(llama_cpp, tmp_path_factory):
    """The zoo model as a GGUF whose metadata says it was trained for 16,384 positions (a config change only)."""
    import shutil

    from codeguard.models.zoo import zoo_path
    source = tmp_path_factory.mktemp("long-context") / "tiny-code-16k"
    shutil.copytree(zoo_path("tiny-code"), source)
    config = json.loads((source / "config.json").read_text())
    (source / "config.json").write_text(json.dumps({**config, "max_position_embeddings": 16384}))
    return load_model(f"{source}@gguf-f16").path


def test_the_context_opens_at_4096_positions_not_the_trained_length(long_context_gguf, corpus_windows, monkeypatch):
    """llama.cpp allocates the KV cache for the whole context it opens: at a file's trained length (131,072 for
    Llama 3.1) a real model's KV cache alone is many GB. It opens at 4,096 positions, $CODEGUARD_GGUF_CTX for more
    (never past the trained length), and the numbers of a window do not depend on it."""
    model = load_model(str(long_context_gguf))
    assert model.max_context == 4096 and model.details["n_ctx_trained"] == 16384
    window = next(model.sequence_logits(corpus_windows[:1]))
    with pytest.raises(ProbeInputError, match=r"4,096 of the 16,384 positions .* CODEGUARD_GGUF_CTX=N opens more"):
        next(model.sequence_logits([[0] * 4097]))
    monkeypatch.setenv("CODEGUARD_GGUF_CTX", "8192")
    wider = load_model(str(long_context_gguf))
    assert wider.max_context == 8192 and np.array_equal(next(wider.sequence_logits(corpus_windows[:1])), window)
    monkeypatch.setenv("CODEGUARD_GGUF_CTX", "100000")
    whole = load_model(str(long_context_gguf))
    assert whole.max_context == 16384 and not whole.context_hint
    monkeypatch.setenv("CODEGUARD_GGUF_CTX", "lots")
    with pytest.raises(ModelSpecError, match="CODEGUARD_GGUF_CTX='lots': expected a positive number of positions"):
        load_model(str(long_context_gguf))


def test_a_corpus_ctx_beyond_the_opened_context_names_the_variable(long_context_gguf, tmp_path):
    from codeguard.probes.corpus.runner import run_corpus_kld
    from codeguard.probes.corpus.teacher_forced import TeacherForcedConfig
    model = load_model(str(long_context_gguf))
    (tmp_path / "a.py").write_text("x = 1\n")
    with pytest.raises(ProbeInputError, match=r"ctx=5000 is larger than the maximum context .*4096 positions \(llama"
                                              r".*CODEGUARD_GGUF_CTX"):
        run_corpus_kld(model, model, TeacherForcedConfig(ctx=5000, corpus=str(tmp_path)))
