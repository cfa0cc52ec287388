"""Corpus KL divergence: llama.cpp's statistics checked against a straightforward independent computation, and
the standard errors over files both corpus probes report."""
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import codeguard
from codeguard import load_model
from codeguard.errors import ProbeInputError
from codeguard.gating.baselines import new_baseline
from codeguard.gating.gate import evaluate
from codeguard.languages.corpus import CorpusError, load_corpus
from codeguard.probes.corpus.runner import run_corpus_kld, run_corpus_probes
from codeguard.report.results import build_results, dumps
from codeguard.probes.corpus.teacher_forced import TeacherForcedConfig

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    (root / "a.py").write_text("import os\n\n\ndef main(argv):\n    for arg in argv:\n        print(arg)\n"
                               "    return 0\n" * 3)
    (root / "b.go").write_text("package main\n\nfunc add(a int, b int) int {\n\treturn a + b\n}\n")
    (root / "notes.txt").write_text("not code")
    (root / "latin1.c").write_bytes("/* caf\xe9 */ int x;\n".encode("latin-1"))
    (root / "empty.py").write_text("\n  \n")
    return root


@pytest.fixture(scope="module")
def pair():
    return load_model("zoo:tiny-code"), load_model("zoo:tiny-code@int4-rtn")


def _independent_kld(ref, opt, corpus_root, ctx, min_context=0):
    """Window by window with plain torch: the same windows, no batching, no streaming; chunk token k is scored when
    k >= min_context."""
    corpus = load_corpus(corpus_root)
    kld, same = [], []
    for f in corpus.files:
        ids = ref.tokenizer(f.text, add_special_tokens=False)["input_ids"]
        for start in range(0, len(ids), ctx - 1):
            window = torch.tensor([[0] + ids[start:start + ctx - 1]])
            with torch.no_grad():
                lr = torch.log_softmax(ref.model(window).logits[0, :-1].double(), -1)
                lo = torch.log_softmax(opt.model(window).logits[0, :-1].double(), -1)
            lr, lo = lr[min_context:], lo[min_context:]
            kld.append((lr.exp() * (lr - lo)).sum(-1).numpy())
            same.append((lr.argmax(-1) == lo.argmax(-1)).numpy())
    return np.concatenate(kld), np.concatenate(same)


def test_statistics_match_an_independent_computation(pair, small_corpus):
    ref, opt = pair
    result = run_corpus_kld(ref, opt, TeacherForcedConfig(ctx=16, corpus=str(small_corpus)))
    kld, same = _independent_kld(ref, opt, small_corpus, ctx=16)
    m = result.metrics
    assert m["positions"] == kld.size
    for key, value in [("kld_mean", kld.mean()), ("kld_median", np.median(kld)), ("kld_max", kld.max()),
                       ("kld_p90", np.percentile(kld, 90)), ("kld_p99", np.percentile(kld, 99)),
                       ("kld_stderr", kld.std(ddof=1) / np.sqrt(kld.size)), ("same_top_p", same.mean())]:
        assert m[key] == pytest.approx(value, rel=1e-6), key


def test_min_context_scores_only_tokens_with_that_much_of_their_chunk_before_them(pair, small_corpus):
    """llama.cpp's rule when min_context is half the chunk: the same statistics as the independent computation over
    the later tokens of each chunk (opt's output layer computed only there: transformers' logits_to_keep), and
    keyword-shift counts only keywords wholly among them."""
    ref, opt = pair
    config = TeacherForcedConfig(ctx=16, corpus=str(small_corpus), min_context=6)
    results = run_corpus_probes(ref, opt, config)
    kld, same = _independent_kld(ref, opt, small_corpus, ctx=16, min_context=6)
    full = run_corpus_probes(ref, opt, TeacherForcedConfig(ctx=16, corpus=str(small_corpus)))
    m = results["corpus-kld"].metrics
    assert 0 < m["positions"] == kld.size < full["corpus-kld"].metrics["positions"]
    for key, value in [("kld_mean", kld.mean()), ("kld_max", kld.max()), ("same_top_p", same.mean())]:
        assert m[key] == pytest.approx(value, rel=1e-6), key
    assert results["corpus-kld"].probe_config()["min_context"] == 6
    assert full["corpus-kld"].probe_config()["min_context"] == 0
    shift, every = results["keyword-shift"], full["keyword-shift"]
    assert 0 < shift.overall["positions"] < every.overall["positions"]
    assert shift.skipped["outside_scored_positions"] > every.skipped["outside_scored_positions"]
    assert shift.skipped["keywords_found"] == every.skipped["keywords_found"]


def test_min_context_that_leaves_nothing_to_score_is_refused(pair, small_corpus):
    ref, opt = pair
    with pytest.raises(ProbeInputError, match="min_context=15 leaves nothing to score in chunks of 15 tokens"):
        run_corpus_kld(ref, opt, TeacherForcedConfig(ctx=16, corpus=str(small_corpus), min_context=15))
    with pytest.raises(ProbeInputError, match="no file longer than min_context=200 tokens"):
        run_corpus_kld(ref, opt, TeacherForcedConfig(ctx=256, corpus=str(small_corpus), min_context=200))
    with pytest.raises(ProbeInputError, match="min_context=-1: expected a whole number >= 0"):
        TeacherForcedConfig(min_context=-1)


def test_identical_models_give_zero_everywhere(small_corpus):
    ref = load_model("zoo:tiny-code")
    result = run_corpus_kld(ref, load_model("zoo:tiny-code"), TeacherForcedConfig(ctx=32, corpus=str(small_corpus)))
    for key in ("kld_mean", "kld_median", "kld_p99", "kld_p999", "kld_max"):
        assert result.metrics[key] == 0.0
    assert result.metrics["same_top_p"] == 1.0 and result.metrics["ppl_ratio"] == 1.0
    assert result.delta_p["rms"] == 0.0 and result.delta_p_ref_top["max"] == 0.0


def test_rows_per_language_and_skipped_files_are_reported(pair, small_corpus):
    ref, opt = pair
    result = run_corpus_kld(ref, opt, TeacherForcedConfig(ctx=32, corpus=str(small_corpus)))
    assert set(result.per_language) == {"python", "go"}
    assert result.skipped_files == {"unknown_language": ["notes.txt"], "undecodable": ["latin1.c"],
                                    "empty": ["empty.py"]}
    assert sum(s["positions"] for s in result.per_language.values()) == result.metrics["positions"]
    worst = result.worst[0]
    assert worst["file"] in ("a.py", "b.go") and worst["line"] >= 1 and "⟦" in worst["context"]
    data = result.to_dict()
    assert set(data["metrics"]["per_language"]) == {"python", "go"}
    assert "kld_mean.python" in result.gate_metrics()


def test_bad_inputs(pair, small_corpus, tmp_path):
    ref, opt = pair
    with pytest.raises(ProbeInputError, match="ctx=4096 is larger than the maximum context of zoo:tiny-code"):
        run_corpus_kld(ref, opt, TeacherForcedConfig(ctx=4096, corpus=str(small_corpus)))
    with pytest.raises(ProbeInputError, match="ctx=1 leaves no room"):
        run_corpus_kld(ref, opt, TeacherForcedConfig(ctx=1, corpus=str(small_corpus)))
    with pytest.raises(CorpusError, match="holds no readable source file"):
        run_corpus_kld(ref, opt, TeacherForcedConfig(corpus=str(tmp_path)))


@pytest.fixture(scope="module")
def corpus_slice(tmp_path_factory):
    """Python and Go files of the shipped corpus (3 each) and one Lua file: a language whose SE is unknown."""
    shipped = Path(codeguard.__file__).parent / "data" / "corpus"
    root = tmp_path_factory.mktemp("corpus-slice")
    for path in [*sorted((shipped / "python").iterdir()), *sorted((shipped / "go").iterdir()),
                 shipped / "lua" / "queue.lua"]:
        (root / path.parent.name).mkdir(exist_ok=True)
        (root / path.parent.name / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    return root


def test_standard_errors_over_files_reach_the_json_and_the_gate(corpus_slice):
    ref, opt = load_model("zoo:tiny-code"), load_model("zoo:tiny-code@onnx-int8")
    results = run_corpus_probes(ref, opt, TeacherForcedConfig(ctx=128, corpus=str(corpus_slice)))
    kld, shift = results["corpus-kld"], results["keyword-shift"]
    expected = [(kld, ["kld_mean", "same_top_p", "ppl_ratio", "kld_mean.python", "kld_mean.go", "same_top_p.go"]),
                (shift, ["mean_abs_dlogp", "top1_lost_share", "mean_abs_dlogp.python", "mean_abs_dlogp.go"])]
    for result, metrics in expected:
        stderr = result.uncertainty()
        for metric in metrics:
            assert math.isfinite(stderr[metric]) and stderr[metric] > 0, (result.probe, metric)
        data = json.loads(dumps(build_results([(result, None)], [])))["probes"][0]["result"]
        assert data["uncertainty"] == pytest.approx(stderr)
        assert data["uncertainty_files"][metrics[0]] == 7 and data["uncertainty_files"][metrics[-1]] == 3
    # one Lua file: its SE is unknown, said so, never 0
    assert "kld_mean.lua" not in kld.uncertainty() and kld.stderr_files["kld_mean.lua"] == 1
    assert any("SE unknown" in note and "kld_mean.lua (1 file)" in note for note in kld.gate_notes())
    # the per-position SE (llama.cpp's) understates the noise of autocorrelated positions
    assert kld.uncertainty()["kld_mean"] > kld.metrics["kld_stderr"]
    assert kld.gate_notes()[0].startswith(f"kld_mean {kld.metrics['kld_mean']:.4g} ± ")

    baseline = new_baseline("corpus_kld", {"spec": ref.spec, "fingerprint": ref.fingerprint},
                            {"spec": opt.spec, "fingerprint": opt.fingerprint}, kld.probe_config(),
                            kld.gate_metrics(), None, "0.1.0")
    verdict = evaluate(kld, "corpus_kld", baseline)
    assert verdict.passed and "± SE" in verdict.table()
    check = next(c for c in verdict.checks if c.metric == "kld_mean")
    assert check.stderr == kld.uncertainty()["kld_mean"] and not check.within_noise


def test_windows_batched_by_gpu_memory_give_the_host_batches_metrics(pair, corpus_slice):
    """On a GPU the windows per forward call follow free memory (models/window_batches.py): that rule, run on the
    host, gives the metrics of the host's batches and of one window a call."""
    from codeguard.models.window_batches import windows_per_call
    ref, opt = pair
    assert windows_per_call(129, 8192, ref.token_budget, 80 << 30) == 16 != windows_per_call(129, 8192, 4096) == 31
    config = TeacherForcedConfig(ctx=128, corpus=str(corpus_slice))

    def metrics(per_call=0, free_gpu_bytes=None):
        for model in pair:
            model.windows_per_call = per_call
            model._free_gpu_bytes = lambda: free_gpu_bytes
        try:
            results = run_corpus_probes(ref, opt, config)
        finally:
            for model in pair:
                model.windows_per_call = 0
                del model._free_gpu_bytes
        return {name: result.gate_metrics() for name, result in results.items()}

    host, one_by_one, gpu_rule = metrics(), metrics(per_call=1), metrics(free_gpu_bytes=80 << 30)
    for other in (one_by_one, gpu_rule):
        for name, values in host.items():
            assert other[name].keys() == values.keys()
            for key, value in values.items():
                assert other[name][key] == pytest.approx(value, rel=1e-6, abs=1e-12), (name, key)
