"""The reference cache on the zoo: cached probes equal the live ones (exact mode) or flag what they approximate
(top-K mode), and a cache for anything else, or a damaged one, is refused by name."""
import json
import shutil

import numpy as np
import pytest
import torch

from codeguard import load_model
from codeguard.errors import ReferenceCacheError
from codeguard.probes.cold_start import run_cold_start
from codeguard.probes.corpus.runner import run_corpus_probes
from codeguard.probes.corpus.teacher_forced import TeacherForcedConfig
from codeguard.probes.keyword_mass import run_keyword_mass
from codeguard.probes.reference_cache.build import build_reference_cache
from codeguard.probes.reference_cache.replay import load_reference_cache

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    (root / "a.py").write_text("import os\n\n\ndef main(argv):\n    for arg in argv:\n        print(arg)\n"
                               "    return 0\n" * 3)
    (root / "b.go").write_text("package main\n\nfunc add(a int, b int) int {\n\treturn a + b\n}\n")
    return root


@pytest.fixture(scope="module")
def pair():
    return load_model("zoo:tiny-code"), load_model("zoo:tiny-code@int4-rtn")


@pytest.fixture(scope="module")
def config(corpus):
    return TeacherForcedConfig(ctx=16, corpus=str(corpus))


@pytest.fixture(scope="module")
def caches(pair, config, tmp_path_factory):
    ref, _ = pair
    root = tmp_path_factory.mktemp("caches")
    return {mode: build_reference_cache(ref, root / mode, config, mode=mode) and root / mode
            for mode in ("exact", "top-k")}


def test_exact_cache_gives_the_live_results(pair, config, caches):
    ref, opt = pair
    cache = load_reference_cache(caches["exact"])
    live, cached = run_corpus_probes(ref, opt, config), cache.corpus_probes(opt, config)
    for probe in live:
        assert cached[probe].gate_metrics() == live[probe].gate_metrics()
        assert cached[probe].stderr == live[probe].stderr
        assert cached[probe].approximate_metrics() == []
        assert cached[probe].ref.spec == ref.spec and cached[probe].ref.fingerprint == ref.fingerprint
    assert cached["corpus-kld"].worst == live["corpus-kld"].worst
    assert cache.cold_start(opt).metrics == run_cold_start(ref, opt).metrics
    assert cache.keyword_mass(opt).metrics == run_keyword_mass(ref, opt).metrics


@pytest.mark.parametrize("mode", ["exact", "top-k"])
def test_a_half_precision_reference_is_cached(pair, config, tmp_path, mode):
    """A bfloat16 reference (a GPU's `auto` dtype for most checkpoints) has logits numpy cannot hold: the cache
    stores them as float32, which holds them exactly, so the exact cache still gives the live pair's metrics."""
    ref, opt = load_model("zoo:tiny-code", dtype="bfloat16"), pair[1]
    assert next(ref.model.parameters()).dtype == torch.bfloat16
    build_reference_cache(ref, tmp_path / mode, config, mode=mode)
    live, cached = run_corpus_probes(ref, opt, config), load_reference_cache(tmp_path / mode).corpus_probes(opt, config)
    if mode == "exact":
        assert cached["corpus-kld"].gate_metrics() == live["corpus-kld"].gate_metrics()
    assert cached["keyword-shift"].gate_metrics() == live["keyword-shift"].gate_metrics()


def test_top_k_cache_is_exact_where_it_can_be_and_flags_the_rest(pair, config, caches):
    ref, opt = pair
    live, cached = run_corpus_probes(ref, opt, config), load_reference_cache(caches["top-k"]).corpus_probes(opt, config)
    kld, live_kld = cached["corpus-kld"], live["corpus-kld"]
    for name in ("positions", "same_top_p", "ppl_ref", "ppl_opt", "ppl_ratio"):
        assert kld.metrics[name] == live_kld.metrics[name], name
    assert cached["keyword-shift"].gate_metrics() == live["keyword-shift"].gate_metrics()
    flagged = kld.approximate_metrics()
    assert "same_top_p" not in flagged and "kld_p99" in flagged and "kld_max" in flagged
    # kld_mean, overall and per language, is an unbiased estimate (tail draws): not flagged, and near the live one
    assert not [name for name in flagged if name.startswith("kld_mean")]
    # (99 positions: 0.7 % off overall, 3.4 % for the 25 of Go, which 32 draws a position leave noisier)
    assert kld.metrics["kld_mean"] == pytest.approx(live_kld.metrics["kld_mean"], rel=0.03)
    for lang, stats in live_kld.per_language.items():
        assert kld.per_language[lang]["kld_mean"] == pytest.approx(stats["kld_mean"], rel=0.1), lang
    assert kld.ref.approximate and kld.ref.tail_sampled and "reference-cache (top-k)" in kld.ref.backend


def test_a_condition_on_kld_mean_of_a_top_k_cache_is_checked_and_one_on_a_quantile_refused(pair, config, caches):
    from codeguard.errors import ApproximateSourceError
    from codeguard.gating.conditions import conditions_verdict
    result = load_reference_cache(caches["top-k"]).corpus_probes(pair[1], config)["corpus-kld"]
    assert conditions_verdict(result, "kld_mean < 100").passed
    assert not conditions_verdict(result, "kld_mean < 1e-9").passed
    with pytest.raises(ApproximateSourceError, match=r"conditions on kld_p99 refused"):
        conditions_verdict(result, ["kld_mean < 100", "kld_p99 < 100"])


def _copy(caches, tmp_path, mode="exact"):
    target = tmp_path / "cache"
    shutil.copytree(caches[mode], target)
    return target


def _edit_manifest(directory, change):
    path = directory / "manifest.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_another_reference_is_refused_by_name(caches):
    cache = load_reference_cache(caches["exact"])
    with pytest.raises(ReferenceCacheError, match=r"manifest\.json: key reference does not match.*zoo:other"):
        cache.check_reference(spec="zoo:other")
    with pytest.raises(ReferenceCacheError, match=r"key reference does not match.*sha256:0000"):
        cache.check_reference(fingerprint="sha256:0000")


def test_another_corpus_is_refused_by_name(pair, caches, tmp_path):
    (tmp_path / "c.py").write_text("def other():\n    return 1\n")
    with pytest.raises(ReferenceCacheError, match=r"manifest\.json: key corpus does not match.*the corpus at"):
        load_reference_cache(caches["exact"]).corpus_probes(pair[1], TeacherForcedConfig(ctx=16,
                                                                                          corpus=str(tmp_path)))


def test_another_probe_configuration_is_refused_by_name(pair, corpus, caches):
    cache = load_reference_cache(caches["exact"])
    with pytest.raises(ReferenceCacheError, match=r"key config does not match.*\"ctx\": 32.*corpus configuration"):
        cache.corpus_probes(pair[1], TeacherForcedConfig(ctx=32, corpus=str(corpus)))
    from codeguard.probes.cold_start import ColdStartConfig
    with pytest.raises(ReferenceCacheError, match=r"key config does not match.*cold-start configuration"):
        cache.cold_start(pair[1], ColdStartConfig(rollouts=3))


@pytest.mark.parametrize("mode", ["exact", "top-k"])
def test_a_cache_scored_from_a_min_context_gives_the_live_results_and_refuses_other_values(pair, corpus, tmp_path,
                                                                                            mode):
    """llama.cpp's rule (min_context): the reference scores, and the cache stores, only the later positions; the
    replay equals the live run (exact) or its exact metrics (top-K); the default, and the cache built with it,
    refuse each other by name."""
    ref, opt = pair
    config = TeacherForcedConfig(ctx=16, corpus=str(corpus), min_context=6)
    manifest = build_reference_cache(ref, tmp_path / mode, config, mode=mode)
    cache = load_reference_cache(tmp_path / mode)
    live, cached = run_corpus_probes(ref, opt, config), cache.corpus_probes(opt, config)
    assert manifest.positions == live["corpus-kld"].metrics["positions"]
    if mode == "exact":
        assert {p: r.gate_metrics() for p, r in cached.items()} == {p: r.gate_metrics() for p, r in live.items()}
    else:
        exact = {"positions", "same_top_p", "ppl_ratio"}
        assert {k: v for k, v in cached["corpus-kld"].metrics.items() if k in exact} == \
            pytest.approx({k: v for k, v in live["corpus-kld"].metrics.items() if k in exact}, rel=1e-6)
    with pytest.raises(ReferenceCacheError, match=r"key config does not match.*\"min_context\": 6"):
        cache.corpus_probes(opt, TeacherForcedConfig(ctx=16, corpus=str(corpus)))
    with pytest.raises(ReferenceCacheError, match=r"key config does not match.*\"min_context\": 3"):
        cache.corpus_probes(opt, TeacherForcedConfig(ctx=16, corpus=str(corpus), min_context=3))


def test_another_tokenizer_is_refused_by_name(caches):
    class OtherVocabulary:
        spec = "other-tokenizer"

        def vocabulary(self):
            return ["a", "b"]

    with pytest.raises(ReferenceCacheError, match=r"key tokenizer does not match.*vocabulary of other-tokenizer"):
        load_reference_cache(caches["exact"]).cold_start(OtherVocabulary())


@pytest.mark.parametrize("key, value, message", [
    ("codeguard_version", "0.0.1", r"key codeguard_version: the cache was built by codeguard 0\.0\.1"),
    ("reduction_format", 999, r"key reduction_format: the cache was built with reduction format 999"),
])
def test_another_version_is_refused_by_name(caches, tmp_path, key, value, message):
    directory = _copy(caches, tmp_path)
    _edit_manifest(directory, lambda data: data["keys"].__setitem__(key, value))
    with pytest.raises(ReferenceCacheError, match=message):
        load_reference_cache(directory)


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "manifest.json").unlink(), r"no manifest\.json \(not a reference cache, or its build did not"),
    (lambda d: (d / "manifest.json").write_text("{"), r"manifest\.json: not valid JSON"),
    (lambda d: (d / "cold_start.npz").unlink(), r"cold_start\.npz is missing .*the cache is partial"),
    (lambda d: (d / "corpus_logits.npy").write_bytes((d / "corpus_logits.npy").read_bytes()[:-8]),
     r"corpus_logits\.npy has \d+ bytes, the manifest says \d+"),
])
def test_a_damaged_cache_is_refused_by_name(caches, tmp_path, damage, message):
    directory = _copy(caches, tmp_path)
    damage(directory)
    with pytest.raises(ReferenceCacheError, match=message):
        load_reference_cache(directory)


@pytest.mark.parametrize("damage", [
    pytest.param(lambda data: data[:], id="intact"),
    pytest.param(lambda data: data[:128] + b"\x00" * (len(data) - 128), id="rows-zeroed"),  # the header is 128 bytes
    pytest.param(lambda data: data[:-4] + np.float32(np.nan).tobytes(), id="nan-in-the-last-row"),
    pytest.param(lambda data: data[:200] + bytes([data[200] ^ 1]) + data[201:], id="one-bit-in-the-first-row"),
])
def test_exact_logits_are_hashed_as_they_are_read_and_a_damaged_file_gives_no_result(pair, config, caches, tmp_path,
                                                                                      damage):
    """The exact logits (gigabytes at real sizes) are not hashed when the cache opens but as the corpus probes read
    them: a damaged file, of the right size, still fails the run by name before any result exists, even where its
    bytes would have raised something else first; the cold start, which does not read it, is served."""
    ref, opt = pair
    directory = _copy(caches, tmp_path)
    path = directory / "corpus_logits.npy"
    path.write_bytes(damage(path.read_bytes()))
    cache = load_reference_cache(directory)
    assert cache.cold_start(opt).metrics == run_cold_start(ref, opt).metrics
    if path.read_bytes() == (caches["exact"] / "corpus_logits.npy").read_bytes():
        assert cache.corpus_probes(opt, config)["corpus-kld"].gate_metrics() == \
            run_corpus_probes(ref, opt, config)["corpus-kld"].gate_metrics()
        return
    with pytest.raises(ReferenceCacheError, match=r"corpus_logits\.npy does not match its SHA-256 in the manifest; "
                                                  r"the cache is corrupt: build it again"):
        cache.corpus_probes(opt, config)


def test_a_missing_directory_and_a_foreign_output_directory_are_refused(pair, tmp_path):
    with pytest.raises(ReferenceCacheError, match=r"nowhere: no such directory; build one with"):
        load_reference_cache(tmp_path / "nowhere")
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(ReferenceCacheError, match=r"non-empty directory that is not a reference cache"):
        build_reference_cache(pair[0], tmp_path)
    assert (tmp_path / "precious.txt").exists()


def test_a_gate_refuses_the_kl_metrics_of_a_top_k_cache_and_says_how_to_get_exact_ones(pair, config, caches):
    from codeguard.errors import ApproximateSourceError
    from codeguard.gating.gate import check_exact_sources
    result = load_reference_cache(caches["top-k"]).corpus_probes(pair[1], config)["corpus-kld"]
    with pytest.raises(ApproximateSourceError, match=r"refuses REF zoo:tiny-code: its metrics \(kld_max, kld_median.*"
                                                     r"top-K reference cache.*kld_mean is an unbiased estimate.*"
                                                     r"--mode exact"):
        check_exact_sources(result, "corpus_kld")


def test_nan_in_a_cache_never_passes(pair, config, caches, tmp_path):
    import numpy as np
    from codeguard.probes.reference_cache.store import file_digest
    directory = _copy(caches, tmp_path, "top-k")
    with np.load(directory / "corpus.npz") as data:
        arrays = {name: data[name] for name in data.files}
    arrays["target_logprob"][3] = np.nan
    np.savez(directory / "corpus.npz", **arrays)
    path = directory / "corpus.npz"
    _edit_manifest(directory, lambda data: data["files"].__setitem__(
        "corpus.npz", {"bytes": path.stat().st_size, "sha256": file_digest(path)}))
    cache = load_reference_cache(directory)
    with pytest.raises(ReferenceCacheError, match=r"corpus\.npz: array target_logprob holds NaN or \+inf"):
        cache.corpus_probes(pair[1], config)


def test_a_cache_without_a_corpus_serves_the_cold_start_and_keyword_mass_and_refuses_the_rest(pair, config, tmp_path,
                                                                                               capsys):
    from codeguard.cli.main import main
    ref, opt = pair
    assert main(["reference-cache", "zoo:tiny-code", "--out", str(tmp_path / "cache"), "--no-corpus"]) == 0
    assert "cold start and keyword mass only (no corpus)" in capsys.readouterr().out
    cache = load_reference_cache(tmp_path / "cache")
    assert cache.manifest.positions == 0 and sorted(cache.manifest.files) == ["cold_start.npz"]
    assert cache.cold_start(opt).metrics == run_cold_start(ref, opt).metrics
    assert cache.keyword_mass(opt).metrics == run_keyword_mass(ref, opt).metrics
    with pytest.raises(ReferenceCacheError, match=r"built without a corpus \(it serves the cold start and keyword "
                                                  r"mass only\), so it cannot give corpus-kld, keyword-shift"):
        cache.corpus_probes(opt, config)
    assert main(["reference-cache", "zoo:tiny-code", "--out", str(tmp_path / "x"), "--no-corpus", "--corpus",
                 str(tmp_path)]) == 2
    assert "--no-corpus and --corpus: give one of the two" in capsys.readouterr().err


def test_a_cache_without_the_start_parts_serves_the_corpus_and_refuses_the_cold_start_by_name(pair, config,
                                                                                               tmp_path):
    """`codeguard compare --reference-first` of a corpus probe builds only what that probe reads."""
    ref, opt = pair
    build_reference_cache(ref, tmp_path / "cache", config, mode="exact", with_start=False)
    cache = load_reference_cache(tmp_path / "cache")
    assert sorted(cache.manifest.probes) == ["corpus"] and sorted(cache.manifest.files) == ["corpus_logits.npy"]
    live = run_corpus_probes(ref, opt, config)
    assert cache.corpus_probes(opt, config)["corpus-kld"].gate_metrics() == live["corpus-kld"].gate_metrics()
    for probe, call in (("cold-start", cache.cold_start), ("keyword-mass", cache.keyword_mass)):
        with pytest.raises(ReferenceCacheError, match=rf"built without the {probe} probe's inputs \(it serves corpus\), "
                                                      rf"so it cannot give {probe}"):
            call(opt)


def test_exact_logits_are_hashed_as_they_are_written(caches):
    """The manifest's digest of the exact logits comes from the bytes as they went out (a file of gigabytes is not
    read back to hash it), and it is the file's."""
    from codeguard.probes.reference_cache.store import file_digest
    path = caches["exact"] / "corpus_logits.npy"
    entry = load_reference_cache(caches["exact"]).manifest.files["corpus_logits.npy"]
    assert entry == {"bytes": path.stat().st_size, "sha256": file_digest(path)}
    assert np.load(path).shape[0] == load_reference_cache(caches["exact"]).manifest.positions


def test_an_onnx_candidate_beside_a_cache_takes_every_core_and_gives_the_same_metrics(pair, config, caches,
                                                                                     monkeypatch):
    """ONNX Runtime leaves the other cores to a reference scoring beside it (one intra-op thread); beside a cache
    nothing else scores, so it takes every core. The thread count must not move a metric: the cached run on every
    core gives the metrics of the live pair with OPT on one thread, bit for bit."""
    from codeguard.models.env_settings import available_cores
    monkeypatch.delenv("CODEGUARD_ORT_THREADS", raising=False)
    ref = pair[0]
    shared, alone = load_model("zoo:tiny-code@onnx-int8"), load_model("zoo:tiny-code@onnx-int8", alone=True)
    threads = [m.model.model.get_session_options().intra_op_num_threads for m in (shared, alone)]
    assert threads == [1, available_cores()]
    live = run_corpus_probes(ref, shared, config)
    cached = load_reference_cache(caches["exact"]).corpus_probes(alone, config)
    for probe in live:
        assert cached[probe].gate_metrics() == live[probe].gate_metrics()
    monkeypatch.setenv("CODEGUARD_ORT_THREADS", "1")  # the variable still wins
    assert load_model("zoo:tiny-code@onnx-int8", alone=True).model.model.get_session_options().intra_op_num_threads == 1


def test_pass_at_k_from_a_cache_generates_only_opt_and_refuses_other_settings_by_name(tmp_path, monkeypatch):
    from codeguard.probes import pass_at_k
    from codeguard.probes.pass_at_k import PassAtKConfig, run_pass_at_k
    config = PassAtKConfig(problems="humaneval:3", n_samples=2, ks=(1,), max_new_tokens=48, workers=1)
    ref, opt = load_model("zoo:tiny-code-he"), load_model("zoo:tiny-code-he@bf16")
    build_reference_cache(ref, tmp_path / "with", with_corpus=False, pass_at_k=config, progress=False)
    build_reference_cache(ref, tmp_path / "without", with_corpus=False)
    live = run_pass_at_k(ref, opt, config, progress=False)
    generated = []
    generate = pass_at_k.generation.generate_completions
    monkeypatch.setattr(pass_at_k.generation, "generate_completions",
                        lambda model, *a, **k: generated.append(model.spec) or generate(model, *a, **k))
    cache = load_reference_cache(tmp_path / "with")
    cached = cache.pass_at_k(opt, config, progress=False)
    assert generated == ["zoo:tiny-code-he@bf16"]
    assert cached.samples == live.samples and cached.metrics == live.metrics
    assert cached.ref.spec == "zoo:tiny-code-he" and "reference-cache" in cached.ref.backend
    assert any(f"reused from {tmp_path / 'with' / 'pass_at_k.json'}" in note for note in cached.gate_notes())
    with pytest.raises(ReferenceCacheError, match=r"key pass_at_k problems does not match: the cache holds "
                                                  r"completions for 'humaneval:3', this run asks for 'humaneval:4'"):
        cache.pass_at_k(opt, PassAtKConfig(**{**config.__dict__, "problems": "humaneval:4"}), progress=False)
    with pytest.raises(ReferenceCacheError, match=r"key pass_at_k generation does not match: temperature 0\.8 "
                                                  r"\(cached\) vs 0\.6"):
        cache.pass_at_k(opt, PassAtKConfig(**{**config.__dict__, "temperature": 0.6}), progress=False)
    with pytest.raises(ReferenceCacheError, match=r"without the reference's pass@k completions; build it with "
                                                  r"`codeguard reference-cache REF --out DIR --pass-at-k`"):
        load_reference_cache(tmp_path / "without").pass_at_k(opt, config, progress=False)
    (tmp_path / "with" / "pass_at_k.json").write_text("{}")
    with pytest.raises(ReferenceCacheError, match=r"pass_at_k\.json has \d+ bytes, the manifest says"):
        load_reference_cache(tmp_path / "with")


@pytest.mark.parametrize("settings", [{"mass": 0.0}, {"mass": 1.5}, {"k": 0}, {"tail_samples": 0}])
def test_top_k_settings_that_cannot_work_are_refused_before_the_reference_scores(pair, config, tmp_path, settings):
    with pytest.raises(ReferenceCacheError, match=r"reference cache top-K settings .*need 0 < mass <= 1, k >= 1, "
                                                  r"tail_samples >= 1"):
        build_reference_cache(pair[0], tmp_path / "cache", config, mode="top-k", **settings)


def test_a_top_k_cache_with_tail_draws_outside_the_vocabulary_is_refused_by_name(pair, config, caches, tmp_path):
    from codeguard.probes.reference_cache.store import file_digest
    directory = _copy(caches, tmp_path, "top-k")
    with np.load(directory / "corpus.npz") as data:
        arrays = {name: data[name] for name in data.files}
    arrays["tail_ids"][0, 0] = 8192
    path = directory / "corpus.npz"
    np.savez(path, **arrays)
    _edit_manifest(directory, lambda data: data["files"].__setitem__(
        "corpus.npz", {"bytes": path.stat().st_size, "sha256": file_digest(path)}))
    with pytest.raises(ReferenceCacheError, match=r"corpus\.npz: array tail_ids holds token ids outside the "
                                                  r"reference's 8192 outputs"):
        load_reference_cache(directory).corpus_probes(pair[1], config)


@pytest.mark.parametrize("probe", ["cold-start", "corpus-kld", "keyword-shift"])
def test_codeguard_compare_takes_a_cache_as_ref_and_gives_the_live_numbers(probe, corpus, caches, tmp_path, capsys):
    from codeguard.cli.main import main
    common = ["zoo:tiny-code@int4-rtn", "--probe", probe, "--corpus", str(corpus), "--ctx", "16"]
    assert main(["compare", "zoo:tiny-code", *common, "--json", str(tmp_path / "live.json")]) == 0
    assert main(["compare", str(caches["exact"]), *common, "--json", str(tmp_path / "cached.json")]) == 0
    live, cached = (json.loads((tmp_path / f"{name}.json").read_text()) for name in ("live", "cached"))
    ref_cached, ref_live = cached.pop("ref"), live.pop("ref")
    assert ref_cached["backend"] == f"{ref_live['backend']} via reference-cache (exact)"
    assert (ref_cached["spec"], ref_cached["fingerprint"]) == (ref_live["spec"], ref_live["fingerprint"])
    assert cached == live  # every number


def test_codeguard_compare_with_a_cache_refuses_what_it_cannot_serve(caches, capsys):
    from codeguard.cli.main import main
    assert main(["compare", str(caches["exact"]), "zoo:tiny-code@int4-rtn", "--probe", "pass-at-k"]) == 2
    assert "built without the reference's pass@k completions; build it with `codeguard reference-cache REF --out " \
           "DIR --pass-at-k`" in capsys.readouterr().err
    assert main(["compare", str(caches["exact"]), "zoo:tiny-code@int4-rtn", "--reference-first"]) == 2
    assert "is already a reference cache; drop --reference-first" in capsys.readouterr().err


def test_codeguard_compare_names_the_estimates_of_a_top_k_cache(corpus, caches, capsys):
    from codeguard.cli.main import main
    assert main(["compare", str(caches["top-k"]), "zoo:tiny-code@int4-rtn", "--probe", "corpus-kld", "--corpus",
                 str(corpus), "--ctx", "16"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("estimates a gate refuses"))
    assert "reference-cache (top-k)" in line and "kld_p99" in line and "kld_mean" not in line


def test_codeguard_compare_runs_pass_at_k_from_a_cache_with_the_references_completions(tmp_path, capsys):
    from codeguard.cli.main import main
    settings = ["--problems", "humaneval:2", "--samples", "2"]
    assert main(["reference-cache", "zoo:tiny-code-he", "--out", str(tmp_path / "cache"), "--no-corpus",
                 "--pass-at-k", *settings]) == 0
    capsys.readouterr()
    common = ["zoo:tiny-code-he@bf16", "--probe", "pass-at-k", *settings, "--k", "1"]
    assert main(["compare", "zoo:tiny-code-he", *common, "--no-completion-cache",
                 "--json", str(tmp_path / "live.json")]) == 0
    assert main(["compare", str(tmp_path / "cache"), *common, "--json", str(tmp_path / "cached.json")]) == 0
    assert "probe: pass-at-k   ref: zoo:tiny-code-he   opt: zoo:tiny-code-he@bf16" in capsys.readouterr().out
    live, cached = (json.loads((tmp_path / f"{name}.json").read_text()) for name in ("live", "cached"))
    assert cached["metrics"] == live["metrics"] and cached["samples"] == live["samples"]


@pytest.mark.parametrize("mode", ["exact", "top-k"])
def test_a_gguf_pair_is_served_from_a_cache_of_its_reference(config, tmp_path, mode):
    """llama.cpp hands numpy arrays, not tensors: the cache stores and replays them as it does a torch model's logits
    (exact: the live metrics; top-K: the same statistics where they are exact, kld_mean within its sampling error)."""
    pytest.importorskip("llama_cpp", reason="the gguf extra (llama-cpp-python) is not installed")
    ref, opt = load_model("zoo:tiny-code@gguf-f16"), load_model("zoo:tiny-code@gguf-q4_k_m")
    assert isinstance(next(opt.sequence_logits([[1, 2, 3]])), np.ndarray)
    build_reference_cache(ref, tmp_path / mode, config, mode=mode)
    live, cached = run_corpus_probes(ref, opt, config), load_reference_cache(tmp_path / mode).corpus_probes(opt, config)
    assert cached["keyword-shift"].gate_metrics() == live["keyword-shift"].gate_metrics()
    kld, live_kld = cached["corpus-kld"], live["corpus-kld"]
    if mode == "exact":
        assert kld.gate_metrics() == live_kld.gate_metrics()
        return
    for name in ("positions", "same_top_p", "ppl_ref", "ppl_opt", "ppl_ratio"):
        assert kld.metrics[name] == live_kld.metrics[name], name
    assert kld.metrics["kld_mean"] == pytest.approx(live_kld.metrics["kld_mean"], rel=0.05)
