"""`codeguard study`: one run over a reference and its variants, the report it writes, and the inputs it refuses."""
import json
import shutil
import subprocess
import sys

import pytest

from codeguard.errors import ReportError
from codeguard.models.zoo import zoo_path
from codeguard.report.study import load_study, render_study_html, render_study_markdown, study_table, validate_study

pytestmark = pytest.mark.slow

REF = "zoo:tiny-code"
VARIANTS = ["zoo:tiny-code@fp16", "zoo:tiny-code@int4-rtn", "zoo:tiny-code-distilled"]
SHIPPED = zoo_path("tiny-code").parents[2] / "data" / "corpus"


def _cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "codeguard.cli.main", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def _swapped_vocabulary_copy(target):
    """tiny-code with two token ids swapped: a real, loadable model whose vocabulary differs from the reference's."""
    shutil.copytree(zoo_path("tiny-code"), target)
    path = target / "tokenizer.json"
    tokenizer = json.loads(path.read_text())
    vocab = tokenizer["model"]["vocab"]
    by_id = {i: token for token, i in vocab.items()}
    vocab[by_id[300]], vocab[by_id[301]] = 301, 300
    path.write_text(json.dumps(tokenizer))
    return target


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """One small study: two languages, three files, 128-token windows; plus a model of another vocabulary."""
    root = tmp_path_factory.mktemp("study")
    corpus = root / "corpus"
    for language, name in (("python", "config_parser.py"), ("python", "lru_cache.py"), ("c", "hashmap.c")):
        (corpus / language).mkdir(parents=True, exist_ok=True)
        shutil.copy(SHIPPED / language / name, corpus / language / name)
    other = _swapped_vocabulary_copy(root / "other-vocab")
    out = root / "report"
    proc = _cli("study", REF, *VARIANTS, other, "--corpus", corpus, "--ctx", 128, "--languages", "python,c",
                "--out", out, "--json", root / "copy.json", "--progress")
    assert proc.returncode == 0, proc.stderr
    return {"proc": proc, "out": out, "data": json.loads((out / "study.json").read_text()), "other": str(other),
            "copy": root / "copy.json"}


def _by_spec(data):
    return {v["spec"]: v for v in data["variants"]}


def test_table_has_a_row_per_model_reference_first(study):
    header, rows = study_table(study["data"])
    assert [row[0] for row in rows] == [f"{REF} (ref)", *VARIANTS, study["other"]]
    assert header[:3] == ["model", "backend", "params"] and "KLD mean" in header and "cold KL" in header
    printed = study["proc"].stdout
    assert printed.splitlines()[0].startswith("| model | backend | params |")
    for spec in [*VARIANTS, study["other"]]:
        assert f"| {spec} |" in printed


def test_divergences_order_the_variants_as_expected(study):
    v = _by_spec(study["data"])
    fp16, int4, distilled = (v[s]["summary"] for s in VARIANTS)
    assert fp16["corpus_kld_mean"] < 1e-4 < int4["corpus_kld_mean"] < distilled["corpus_kld_mean"]
    assert fp16["cold_kl_ref_opt"] < int4["cold_kl_ref_opt"] < distilled["cold_kl_ref_opt"]
    assert fp16["keyword_mean_abs_dlogp"] < int4["keyword_mean_abs_dlogp"] < distilled["keyword_mean_abs_dlogp"]
    assert fp16["corpus_same_top_p"] > int4["corpus_same_top_p"] > distilled["corpus_same_top_p"]
    assert distilled["parameters"] < 0.6 * fp16["parameters"]
    reference = study["data"]["reference"]["summary"]
    assert reference["ppl"] == pytest.approx(v[VARIANTS[0]]["results"]["corpus-kld"]["metrics"]["ppl_ref"])
    assert set(v[VARIANTS[0]]["results"]["corpus-kld"]["metrics"]["per_language"]) == {"python", "c"}


def test_a_variant_of_another_vocabulary_keeps_its_own_aggregates_and_says_why_the_rest_is_not_applicable(study):
    data = study["data"]
    other = _by_spec(data)[study["other"]]
    assert other["comparable"] is False
    assert set(other["not_applicable"]) == {"cold-start", "keyword-mass", "corpus-kld", "keyword-shift"}
    assert all("different vocabularies" in reason and "token id 300" in reason
               for reason in other["not_applicable"].values())
    assert other["results"] == {} and other["summary"]["corpus_kld_mean"] is None
    assert set(other["aggregates"]["languages"]) == {"python", "c"} and other["summary"]["pkp"] > 0
    row = next(r for r in study_table(data)[1] if r[0] == study["other"])
    assert "n/a" in row
    assert f"{study['other']}: cold-start, keyword-mass, corpus-kld, keyword-shift not applicable" in \
        (study["out"] / "study.md").read_text()


def test_models_of_one_vocabulary_share_one_tokenizer_analysis(study):
    data = study["data"]
    assert [t["models"] for t in data["tokenizers"]] == [[REF, *VARIANTS], [study["other"]]]
    assert [e["tokenizer"] for e in [data["reference"], *data["variants"]]] == [0, 0, 0, 0, 1]
    assert all(v["comparable"] for v in data["variants"][:3])
    assert data["reference"]["start_ids"] == [0]


def test_report_files_are_written_and_render_from_the_json_alone(study):
    out = study["out"]
    assert sorted(p.name for p in out.iterdir()) == ["study.html", "study.json", "study.md"]
    data = load_study(out / "study.json")
    assert data["schema"] == "codeguard-study" and data["schema_version"] == 1
    assert json.loads(study["copy"].read_text())["variants"][0]["spec"] == VARIANTS[0]
    assert render_study_markdown(data) == (out / "study.md").read_text()
    html = (out / "study.html").read_text()
    assert html == render_study_html(data)
    assert html.count("<svg") == 4  # overview, PKP shift, corpus KLD and keyword shift per language
    assert "plot unavailable" not in html and "<link" not in html and "src=\"http" not in html
    assert sum(p.stat().st_size for p in out.iterdir()) < 2_000_000


def test_progress_prints_one_line_per_model_and_step(study):
    lines = [l for l in study["proc"].stderr.splitlines() if l.startswith("codeguard study: ")]
    assert any(REF in l and "aggregates" in l for l in lines)
    assert any("zoo:tiny-code@int4-rtn" in l and "corpus" in l for l in lines)
    assert any(study["other"] in l and "not applicable" in l for l in lines)
    assert "\r" not in study["proc"].stderr  # not a terminal: lines only, no redrawn bar


@pytest.mark.parametrize("args, fragment", [
    (["study", REF, "zoo:nope"], "zoo:nope: no such zoo entry"),
    (["study", REF, "zoo:tiny-code@int2"], "unknown derivation suffix '@int2'"),
    (["study", REF, "zoo:tiny-code@fp16", "zoo:tiny-code@fp16"], "listed more than once"),
])
def test_bad_specs_exit_2_before_any_model_loads(args, fragment):
    proc = _cli(*args, timeout=60)
    assert proc.returncode == 2
    assert fragment in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_an_unwritable_out_folder_exits_2_before_the_study_runs(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for out, fragment in ((blocker, "is a file, not a folder"), (blocker / "sub", "cannot write to")):
        proc = _cli("study", REF, "zoo:tiny-code@fp16", "--out", out, timeout=60)
        assert proc.returncode == 2
        assert f"--out: " in proc.stderr and fragment in proc.stderr and "Traceback" not in proc.stderr
        assert "codeguard study: zoo:tiny-code" not in proc.stderr  # nothing ran


def test_validate_study_names_what_is_wrong(tmp_path):
    with pytest.raises(ReportError, match="not a codeguard study file"):
        validate_study({"schema": "codeguard-results"}, "x.json")
    with pytest.raises(ReportError, match="schema_version 2; this codeguard reads version 1"):
        validate_study({"schema": "codeguard-study", "schema_version": 2}, "x.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(ReportError, match="is not valid JSON"):
        load_study(bad)


def test_pass_at_k_generates_the_references_samples_once_and_compares_each_variant(tmp_path, monkeypatch):
    from codeguard.humaneval import generation
    from codeguard.probes.pass_at_k import PassAtKConfig
    from codeguard.study import StudyConfig, run_study
    (tmp_path / "python").mkdir()
    shutil.copy(SHIPPED / "python" / "lru_cache.py", tmp_path / "python")
    generated = []
    original = generation.generate_completions

    def counting(model, *args, **kwargs):
        generated.append(model.spec)
        return original(model, *args, **kwargs)
    monkeypatch.setattr(generation, "generate_completions", counting)
    config = StudyConfig(corpus=str(tmp_path), ctx=64, languages=("python",),
                         pass_at_k=PassAtKConfig(problems="humaneval:2", n_samples=2, ks=(1, 2), max_new_tokens=24))
    data = run_study(REF, ["zoo:tiny-code@fp16", "zoo:tiny-code-distilled"], config, progress=False).to_dict()
    assert generated == [REF, "zoo:tiny-code@fp16", "zoo:tiny-code-distilled"]
    for variant in data["variants"]:
        result = variant["results"]["pass-at-k"]
        assert set(result["comparisons"]) == {"1", "2"} and "samples" not in result
        assert len(result["per_problem"]) == 2
        assert {"pass@1", "delta_pass@1", "pass@2", "delta_pass@2"} <= set(variant["summary"])
    assert "pass@1" in data["reference"]["summary"]
    header, _ = study_table(data)
    assert header[-4:] == ["pass@1", "Δpass@1", "pass@2", "Δpass@2"]
    assert "### pass@k" in render_study_markdown(data)
