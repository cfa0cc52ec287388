"""Keyword shift in real code: lexer-found positions, chain-rule log-probabilities, per-language statistics."""
import numpy as np
import pytest
import torch

from codeguard import load_model
from codeguard.languages.lexing import keyword_spans
from codeguard.languages.registry import load_registry
from codeguard.probes.corpus.runner import run_keyword_shift
from codeguard.probes.corpus.teacher_forced import TeacherForcedConfig

REGISTRY = load_registry()


def test_lexers_skip_keywords_in_strings_comments_and_identifiers():
    python = 'def f(x):  # if this were a comment\n    s = "return in a string"\n    define = 1\n    return x\n'
    assert [s.word for s in keyword_spans(python, REGISTRY.get("python"))] == ["def", "return"]
    go = 'package main\n// func in a comment\nfunc main() { s := "for"; for {} }\n'
    assert [s.word for s in keyword_spans(go, REGISTRY.get("go"))] == ["package", "func", "for"]
    span = keyword_spans("select 1; SELECT 2;", REGISTRY.get("sql"))
    assert [s.word for s in span] == ["select", "SELECT"] and span[1].start == 10


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("kw")
    (root / "m.py").write_text("import os\n\n\ndef main():\n    if os.sep:\n        return 1\n    return 0\n")
    return root


@pytest.mark.slow
def test_keyword_log_probabilities_match_a_direct_computation(small_corpus):
    ref, opt = load_model("zoo:tiny-code"), load_model("zoo:tiny-code@int4-rtn")
    result = run_keyword_shift(ref, opt, TeacherForcedConfig(ctx=64, corpus=str(small_corpus)))
    python = result.per_language["python"]
    assert python["positions"] == 5 and result.skipped["outside_scored_positions"] == 0
    text = (small_corpus / "m.py").read_text()
    ids = ref.tokenizer(text, add_special_tokens=False)["input_ids"]
    window = torch.tensor([[0] + ids])
    with torch.no_grad():
        lr = torch.log_softmax(ref.model(window).logits[0].double(), -1)
        lo = torch.log_softmax(opt.model(window).logits[0].double(), -1)
    encoding = ref.tokenizer.backend_tokenizer.encode(text, add_special_tokens=False)
    deltas = []
    for span in keyword_spans(text, REGISTRY.get("python")):
        tokens = [i for i, (a, b) in enumerate(encoding.offsets) if a < span.end and b > span.start]
        deltas.append(sum(float(lo[t, ids[t]] - lr[t, ids[t]]) for t in tokens))  # row t predicts token t
    assert python["mean_abs_dlogp"] == pytest.approx(np.mean(np.abs(deltas)), rel=1e-6)
    assert python["max_abs_dlogp"] == pytest.approx(np.max(np.abs(deltas)), rel=1e-6)
    assert python["most_moved"][0]["keyword"] in {"import", "def", "if", "return"}


@pytest.mark.slow
def test_identical_models_shift_nothing(small_corpus):
    ref = load_model("zoo:tiny-code")
    result = run_keyword_shift(ref, ref, TeacherForcedConfig(ctx=64, corpus=str(small_corpus)))
    assert all(v == 0.0 for v in result.gate_metrics().values())


@pytest.mark.slow
def test_keywords_crossing_a_window_boundary_are_counted(small_corpus):
    ref = load_model("zoo:tiny-code")
    result = run_keyword_shift(ref, ref, TeacherForcedConfig(ctx=3, corpus=str(small_corpus)))
    assert result.skipped["keywords_found"] == 5
    assert result.skipped["outside_scored_positions"] + result.overall["positions"] == 5
