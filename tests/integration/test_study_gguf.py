"""`codeguard study` over llama.cpp quantization levels: GGUF variants are measured like any other, in bit order."""
import json
import shutil
import subprocess
import sys

import pytest

from codeguard.models.zoo import zoo_path

pytest.importorskip("llama_cpp", reason="the gguf extra (llama-cpp-python) is not installed")

pytestmark = pytest.mark.slow

LEVELS = ["zoo:tiny-code@gguf-q8_0", "zoo:tiny-code@gguf-q4_k_m", "zoo:tiny-code@gguf-q2_k"]
SHIPPED = zoo_path("tiny-code").parents[2] / "data" / "corpus"


def test_study_over_gguf_levels_orders_them_by_bits(tmp_path, monkeypatch):
    corpus = tmp_path / "corpus"
    for language, name in (("python", "config_parser.py"), ("c", "hashmap.c")):
        (corpus / language).mkdir(parents=True)
        shutil.copy(SHIPPED / language / name, corpus / language / name)
    monkeypatch.setenv("CODEGUARD_GGUF_THREADS", "1")
    proc = subprocess.run([sys.executable, "-m", "codeguard.cli.main", "study", "zoo:tiny-code", *LEVELS,
                           "--corpus", str(corpus), "--ctx", "128", "--languages", "python,c",
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "out" / "study.json").read_text())
    variants = {v["spec"]: v for v in data["variants"]}
    assert list(variants) == LEVELS
    reference = data["reference"]
    for spec in LEVELS:
        entry = variants[spec]
        assert entry["backend"] == "llama.cpp" and entry["comparable"], entry.get("not_applicable")
        assert entry["parameters"] == reference["parameters"]  # the source checkpoint's count
        assert f"| {spec} | llama.cpp |" in proc.stdout
    # The tokenizer rebuilt from GGUF metadata is defined differently (an explicit Split regex, no post-processor),
    # so the study keys it apart from the HF one, but it tokenizes the same: one analysis for all levels, with the
    # reference's numbers.
    ref_analysis, gguf_analysis = data["tokenizers"]
    assert gguf_analysis["models"] == LEVELS and ref_analysis["models"] == ["zoo:tiny-code"]
    for key in ("vocab_size", "classes", "keyword_tokens", "coverage", "fertility"):
        assert gguf_analysis[key] == ref_analysis[key], key
    q8, q4, q2 = (variants[s]["summary"] for s in LEVELS)
    for metric in ("cold_kl_ref_opt", "corpus_kld_mean", "keyword_mean_abs_dlogp"):
        assert 0 < q8[metric] < q4[metric] < q2[metric], metric
    assert q8["corpus_same_top_p"] > q4["corpus_same_top_p"] > q2["corpus_same_top_p"]
