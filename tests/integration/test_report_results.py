"""results.json, report.md and report.html from real probe results (zoo models), and the page in a real browser."""
import json
import math
import shutil
import subprocess
from types import SimpleNamespace

import pytest

from codeguard.errors import OutputError, ReportError
from codeguard.gating.baselines import baseline_path, load_baseline, new_baseline, write_baseline
from codeguard.gating.gate import gate
from codeguard.report.html import render_html
from codeguard.report.markdown import render_markdown
from codeguard.report.outputs import write_outputs, write_report_dir
from codeguard.report.results import (
    SCHEMA_VERSION,
    build_results,
    dumps,
    load_results,
    merge_results,
    validate_results,
    write_results,
)

pytestmark = pytest.mark.slow
REF_SPEC, OPT_SPEC = "zoo:tiny-code", "zoo:tiny-code@fp16"


@pytest.fixture(scope="module")
def probe_results(tmp_path_factory):
    """Real results of every probe kind on zoo:tiny-code vs its fp16 cast (a small corpus keeps it quick), and a
    pass@k result scored from synthetic executed samples (generation takes minutes)."""
    from codeguard.languages.corpus import SHIPPED_CORPUS, load_corpus
    from codeguard.languages.registry import load_registry
    from codeguard.models import load_model
    from codeguard.probes.cold_start import run_cold_start
    from codeguard.probes.corpus.runner import CORPUS_PROBES, run_corpus_probes
    from codeguard.probes.corpus.teacher_forced import TeacherForcedConfig
    from codeguard.probes.keyword_mass import KeywordMassConfig, run_keyword_mass
    from codeguard.probes.tokenizer_analysis import analyse_tokenizer
    from codeguard.tokenization import model_tokenizer
    corpus_dir = tmp_path_factory.mktemp("corpus")
    for language in ("python", "javascript"):
        source = sorted((SHIPPED_CORPUS / language).iterdir())[0]
        (corpus_dir / language).mkdir()
        shutil.copy(source, corpus_dir / language / source.name)
    registry = load_registry()
    corpus = load_corpus(corpus_dir, registry)
    ref, opt = load_model(REF_SPEC), load_model(OPT_SPEC)
    corpus_results = run_corpus_probes(ref, opt, TeacherForcedConfig(ctx=128, corpus=str(corpus_dir)), corpus,
                                       registry, CORPUS_PROBES)
    timed = [(run_cold_start(ref, opt), 1.5),
             (run_keyword_mass(ref, opt, KeywordMassConfig(languages=("python", "javascript", "sql")), registry), 2.0),
             (corpus_results["corpus-kld"], 7.0), (corpus_results["keyword-shift"], 7.0), (pass_at_k_result(), None)]
    tokenizers = [analyse_tokenizer(model_tokenizer(ref), registry, ["python", "javascript"], corpus)]
    return SimpleNamespace(timed=timed, tokenizers=tokenizers)


def pass_at_k_result():
    from codeguard.humaneval.problems import Problem, ProblemSet
    from codeguard.probes.pass_at_k import PassAtKConfig, summarize
    models = {side: SimpleNamespace(spec=spec, fingerprint=f"sha256:{side}", backend="torch")
              for side, spec in (("ref", REF_SPEC), ("opt", OPT_SPEC))}
    problems = ProblemSet("synthetic:6", tuple(Problem(f"T/{i}", "def f():\n", "f", "def check(c): pass\n")
                                               for i in range(6)))
    ref_correct, opt_correct = [5, 4, 3, 0, 5, 1], [5, 1, 3, 0, 2, 4]

    def samples(counts):
        return {f"T/{i}": [{"completion": "", "verdict": "passed" if j < c else ("timed out" if j == 4 else "failed"),
                            "detail": ""} for j in range(5)] for i, c in enumerate(counts)}
    return summarize(models["ref"], models["opt"], PassAtKConfig(n_samples=5, ks=(1, 5)), problems,
                     {"ref": samples(ref_correct), "opt": samples(opt_correct)}, "test isolation")


def verdicts_for(results, tmp_path, failing: bool):
    """Gates like the plugin's: cold start against a stored baseline (so tolerances are real), the others against
    limits; a failing run breaks one baseline check, one limit and gets a NaN metric."""
    cold, mass, kld, shift, passk = (r for r, _ in results.timed)
    path = baseline_path(tmp_path / "bl", "zoo-tiny-code", "cold_start")
    write_baseline(path, new_baseline("cold_start", {"spec": REF_SPEC, "fingerprint": cold.ref.fingerprint},
                                      {"spec": OPT_SPEC, "fingerprint": cold.opt.fingerprint}, cold.probe_config(),
                                      cold.gate_metrics(), None, "test"))
    metrics = dict(cold.gate_metrics())
    if failing:
        metrics["kl_ref_opt"] = 1.0
    specs = {"ref_spec": REF_SPEC, "opt_spec": OPT_SPEC}
    kld_metrics = dict(kld.gate_metrics())
    if failing:
        kld_metrics["kld_p99"] = math.nan
    return [gate("cold_start", metrics, baseline=load_baseline(path), **specs),
            gate("keyword_mass", mass.gate_metrics(), limits={"pkp_rel_shift": 0.5}, **specs),
            gate("corpus_kld", kld_metrics, limits={"kld_mean": 1e-12 if failing else 1.0, "kld_p99": 1.0}, **specs),
            gate("keyword_shift", shift.gate_metrics(), limits={"mean_abs_dlogp": 1.0}, **specs),
            gate("pass_at_k", passk.gate_metrics(), limits=passk.built_in_limits(), **specs)]


@pytest.fixture(params=["passing", "failing"])
def run_document(request, probe_results, tmp_path):
    verdicts = verdicts_for(probe_results, tmp_path, request.param == "failing")
    return build_results(probe_results.timed, verdicts, tokenizers=probe_results.tokenizers,
                         run={"exit_status": 1 if request.param == "failing" else 0,
                              "invocation": ["suites", "--model-pair", f"{REF_SPEC},{OPT_SPEC}"]})


def test_results_json_round_trips_through_its_schema(run_document, tmp_path):
    path = write_results(run_document, tmp_path / "out" / "results.json")
    loaded = load_results(path)
    assert loaded["schema"] == "codeguard-results" and loaded["schema_version"] == SCHEMA_VERSION
    assert dumps(loaded) == dumps(run_document)  # NaN included: what was dumped is what is read
    assert [p["probe"] for p in loaded["probes"]] == ["cold-start", "keyword-mass", "corpus-kld", "keyword-shift",
                                                      "pass-at-k"]
    assert [g["probe"] for g in loaded["gates"]] == [0, 1, 2, 3, 4]  # each verdict found its probe result
    cold = loaded["probes"][0]
    assert cold["ref"]["fingerprint"].startswith("sha256:") and cold["wall_s"] == 1.5
    assert cold["result"]["config"]["start_token"] is None and len(cold["result"]["top_tokens"]["ref"]) == 20
    cold_checks = {c["metric"]: c for c in loaded["gates"][0]["checks"]}
    assert cold_checks["kl_ref_opt"]["tolerance"] == {"rtol": 1.5, "atol": 5e-4}  # from the baseline file
    assert loaded["gates"][1]["checks"][0]["tolerance"] is None  # an absolute limit
    assert loaded["versions"]["codeguard"] == "0.1.0" and loaded["versions"]["torch"]
    assert loaded["tokenizers"][0]["coverage"]["python"]["n_keywords"] > 0
    failing = run_document["run"]["exit_status"] == 1
    assert loaded["summary"] == {"passed": not failing, "gates": 5,
                                 "failed_gates": ["cold_start", "corpus_kld"] if failing else [],
                                 "failed_checks": 3 if failing else 0}


def test_markdown_leads_with_the_verdicts(run_document):
    text = render_markdown(run_document)
    if run_document["summary"]["passed"]:
        assert text.startswith("## codeguard: all 5 gates passed")
        assert "### Failed checks" not in text
    else:
        assert text.startswith("## codeguard: 2 of 5 gates FAILED: cold_start, corpus_kld")
        failures = text.split("### Failed checks", 1)[1].split("### Gates", 1)[0]
        assert "| cold_start | kl_ref_opt | 1 |" in failures and "rtol 1.5, atol 0.0005" in failures
        assert "| corpus_kld | kld_p99 | nan |" in failures and "| corpus_kld | kld_mean |" in failures
    for heading in ("### cold-start (1.5 s)", "### keyword-mass", "### corpus-kld", "### keyword-shift",
                    "### pass-at-k", "### tokenizer zoo:tiny-code"):
        assert heading in text
    assert "| T/1 | lost by opt | passed passed passed passed timed out | passed failed failed failed timed out |" in text


def test_html_shows_failures_first_and_every_plot(run_document):
    page = render_html(run_document)
    first_screen = page.split('<nav>', 1)[0]
    if run_document["summary"]["passed"]:
        assert 'class="banner passed"' in page and "all 5 gates passed" in first_screen
        assert 'id="failures"' not in page
    else:
        assert 'class="banner failed"' in page and "2 of 5 gates FAILED" in first_screen
        failures = first_screen.split('id="failures"', 1)[1].split('id="gates"', 1)[0]
        assert "kl_ref_opt" in failures and "kld_p99" in failures and "x the limit" in failures
    assert page.count("<figure class=\"plot\">") == 5 and page.count("<svg") == 5
    assert "plot unavailable" not in page
    for fetch in ('src="http', "src='http", 'href="http', "url(http", "@import", "<link"):
        assert fetch not in page  # self-contained: nothing to fetch
    for caption in ("Cold-start top tokens", "Per-language keyword mass", "Corpus KLD distribution",
                    "Keyword shift", "pass@k per k", "keyword coverage and fertility", "flipped problems"):
        assert caption in page


def chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(chromium() is None, reason="chromium is not installed (.ci/run installs Debian's chromium)")
def test_report_renders_in_headless_chromium_without_errors(probe_results, tmp_path):
    data = build_results(probe_results.timed, verdicts_for(probe_results, tmp_path, failing=True),
                         tokenizers=probe_results.tokenizers)
    folder = tmp_path / "report"
    write_report_dir(data, folder)
    run = subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
                          "--v=0", f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                          (folder / "report.html").resolve().as_uri()], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    dom = run.stdout
    assert "plots: 5" in dom  # the page's own script ran and counted the SVG plots in the live DOM
    assert dom.count("<svg") == 5 and "2 of 5 gates FAILED" in dom
    console = [line for line in run.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert not console, console


def test_reports_of_several_processes_merge_into_one(probe_results, tmp_path):
    verdicts = verdicts_for(probe_results, tmp_path, failing=True)
    first = build_results(probe_results.timed[:2], verdicts[:2])
    second = build_results(probe_results.timed[2:], verdicts[2:], tokenizers=probe_results.tokenizers)
    merged = merge_results([json.loads(dumps(first)), json.loads(dumps(second))])
    validate_results(merged)
    assert [g["probe"] for g in merged["gates"]] == [0, 1, 2, 3, 4]
    assert merged["summary"]["failed_gates"] == ["cold_start", "corpus_kld"]


def test_results_of_another_schema_or_broken_json_name_the_file(tmp_path):
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({"schema": "codeguard-results", "schema_version": 99, "codeguard_version": "9.0"}))
    with pytest.raises(ReportError, match=r"newer.json: schema_version 99; this codeguard \(0.1.0\) reads version 1"):
        load_results(newer)
    other = tmp_path / "other.json"
    other.write_text("[1, 2]")
    with pytest.raises(ReportError, match="other.json: not a codeguard results file"):
        load_results(other)
    broken = tmp_path / "broken.json"
    broken.write_text('{"schema": ')
    with pytest.raises(ReportError, match="results file .*broken.json is not valid JSON"):
        load_results(broken)
    with pytest.raises(ReportError, match="cannot read results file .*missing.json"):
        load_results(tmp_path / "missing.json")


def test_an_unwritable_report_folder_is_a_clear_error_and_other_outputs_still_happen(tmp_path):
    data = build_results([], [])
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(OutputError, match=r"cannot write .*a-file/report/results.json"):
        write_report_dir(data, blocker / "report")
    lines = write_outputs(data, report_dir=blocker / "report", history=tmp_path / "history.sqlite")
    assert lines[0][1] and "report not written: cannot write" in lines[0][0]
    assert not lines[1][1] and "appended to history" in lines[1][0]


def test_cli_renders_a_results_file_again(run_document, tmp_path, capsys):
    from codeguard.cli.main import main
    path = write_results(run_document, tmp_path / "results.json")
    assert main(["report", "--results", str(path), "--html", str(tmp_path / "r.html"),
                 "--md", str(tmp_path / "r.md")]) == 0
    assert (tmp_path / "r.html").read_text() == render_html(run_document)
    assert (tmp_path / "r.md").read_text() == render_markdown(run_document)
    assert main(["report", "--results", str(tmp_path / "nope.json"), "--html", str(tmp_path / "x.html")]) == 2
    assert "cannot read results file" in capsys.readouterr().err
