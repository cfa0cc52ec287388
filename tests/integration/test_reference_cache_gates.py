"""The suites with a reference cache, as a CI candidate job runs them: only OPT loads, and the verdicts and metrics
are those of the uncached run; the suites that need the live reference fail (never pass) and say why."""
import json
import subprocess
import sys

import pytest

from tests.helpers import DISTRIBUTION_SUITES, REPO, gate_outcomes, write_small_corpus

pytestmark = pytest.mark.slow

SUITES = DISTRIBUTION_SUITES
# Written into the test folder: records every model spec the gate loads, so the test can assert what loaded.
RECORDER = '''
import codeguard.models.loading as loading
_load = loading.load_model

def _recording(spec, *args, **kwargs):
    with open("loaded.txt", "a") as handle:
        handle.write(str(getattr(spec, "text", spec)) + "\\n")
    return _load(spec, *args, **kwargs)

loading.load_model = _recording
'''


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_small_corpus(tmp_path_factory.mktemp("corpus"))


def _build_cache(corpus, out, mode="auto"):
    """`codeguard reference-cache` as the nightly job runs it (its own process, as in CI)."""
    done = subprocess.run([sys.executable, "-m", "codeguard.cli", "reference-cache", "zoo:tiny-code", "--out",
                           str(out), "--corpus", str(corpus), "--ctx", "32", "--mode", mode], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    assert f"{'exact' if mode == 'auto' else mode} mode" in done.stdout and "--model-pair" in done.stdout
    return out


def _gate(pytester, corpus, pair, *args, report="report"):
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(loadrecorder=RECORDER)
    (pytester.path / "loaded.txt").unlink(missing_ok=True)
    result = pytester.runpytest_subprocess(
        *SUITES, "-p", "loadrecorder", "-p", "no:cacheprovider", "--rootdir", str(pytester.path), "--codeguard-baseline-dir",
        str(pytester.path / "baselines"), "--codeguard-corpus", str(corpus), "--codeguard-ctx", "32",
        "--codeguard-report", str(pytester.path / report), "--model-pair", pair, *args)
    loaded = (pytester.path / "loaded.txt").read_text().split() if (pytester.path / "loaded.txt").exists() else []
    return result, loaded


def _gates(pytester, report):
    return gate_outcomes(pytester.path / report)


def test_a_cached_reference_gives_the_uncached_verdicts_and_loads_only_opt(pytester, corpus, tmp_path):
    result, _ = _gate(pytester, corpus, "zoo:tiny-code,zoo:tiny-code@bf16", "--codeguard-update", report="accept")
    result.assert_outcomes(passed=4)
    result, loaded = _gate(pytester, corpus, "zoo:tiny-code,zoo:tiny-code@int4-rtn", report="live")
    result.assert_outcomes(failed=4)
    assert loaded == ["zoo:tiny-code", "zoo:tiny-code@int4-rtn"]
    live_metrics, live_verdicts, _ = _gates(pytester, "live")

    cache = tmp_path / "ref-cache"
    _build_cache(corpus, cache)
    result, loaded = _gate(pytester, corpus, f"{cache},zoo:tiny-code@int4-rtn", report="cached")
    result.assert_outcomes(failed=4)
    assert loaded == ["zoo:tiny-code@int4-rtn"]  # the reference never loads
    result.stdout.fnmatch_lines(["*reference-cache=*ref-cache (only OPT loads)*",
                                 "*codeguard gate 'cold_start' failed for zoo:tiny-code@int4-rtn against "
                                 "zoo:tiny-code: *"])
    cached_metrics, cached_verdicts, data = _gates(pytester, "cached")
    assert cached_verdicts == live_verdicts and any(failed for _, failed in live_verdicts.values())
    assert cached_metrics == live_metrics
    assert data["models"]["ref"]["spec"] == "zoo:tiny-code"

    # the same cache named by option, beside the reference it was built from
    result, loaded = _gate(pytester, corpus, "zoo:tiny-code,zoo:tiny-code@int4-rtn", "--codeguard-reference-cache",
                           str(cache), report="option")
    result.assert_outcomes(failed=4)
    assert loaded == ["zoo:tiny-code@int4-rtn"] and _gates(pytester, "option")[1] == live_verdicts

    # beside another reference, or for another corpus configuration, it is refused by name
    result, loaded = _gate(pytester, corpus, "zoo:tiny-code-python,zoo:tiny-code@int4-rtn",
                           "--codeguard-reference-cache", str(cache), report="other")
    result.assert_outcomes(errors=4)  # in the model_pair fixture: the suites error out before any model loads
    result.stdout.fnmatch_lines(["*manifest.json: key reference does not match*zoo:tiny-code-python*"])
    assert loaded == []


def test_a_top_k_cache_gates_kld_mean_and_refuses_the_quantiles_the_baseline_gates(pytester, corpus, tmp_path):
    """A top-K cache's kld_mean is unbiased, its quantiles are not: corpus_kld is refused while the baseline gates
    kld_p99, naming it, and gated once reviewers mark kld_p99 not_gated; the other suites are exact from it."""
    result, _ = _gate(pytester, corpus, "zoo:tiny-code,zoo:tiny-code@bf16", "--codeguard-update", report="accept")
    result.assert_outcomes(passed=4)
    cache = _build_cache(corpus, tmp_path / "ref-cache", mode="top-k")
    result, loaded = _gate(pytester, corpus, f"{cache},zoo:tiny-code@bf16", report="cached")
    result.assert_outcomes(passed=3, failed=1)
    assert loaded == ["zoo:tiny-code@bf16"]
    result.stdout.fnmatch_lines(["*codeguard gate 'corpus_kld' refuses REF zoo:tiny-code: its metrics (kld_p99) need "
                                 "exact next-token distributions*kld_mean is an unbiased estimate*"])

    path = pytester.path / "baselines" / "zoo-tiny-code" / "corpus_kld.json"
    baseline = json.loads(path.read_text())
    del baseline["metrics"]["kld_p99"]
    baseline["not_gated"] = {"kld_p99": "the candidate job reads a top-K reference cache"}
    path.write_text(json.dumps(baseline))
    result, loaded = _gate(pytester, corpus, f"{cache},zoo:tiny-code@bf16", report="reviewed")
    result.assert_outcomes(passed=4)
    assert loaded == ["zoo:tiny-code@bf16"]
    _, verdicts, data = _gates(pytester, "reviewed")
    corpus_gate = next(g for g in data["gates"] if g["suite"] == "corpus_kld")
    assert "kld_mean" in {c["metric"] for c in corpus_gate["checks"]}
    assert "kld_p99" not in {c["metric"] for c in corpus_gate["checks"]}

    # accepting from a top-K cache would store its flagged numbers: refused
    result, _ = _gate(pytester, corpus, f"{cache},zoo:tiny-code@bf16", "--codeguard-update", report="again")
    result.stdout.fnmatch_lines(["*codeguard gate 'corpus_kld' refuses REF zoo:tiny-code: its metrics (kld_max, "
                                 "kld_median*"])


def test_suites_that_need_the_live_reference_fail_with_a_cache(pytester, corpus, tmp_path):
    cache = tmp_path / "ref-cache"
    _build_cache(corpus, cache)
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(loadrecorder=RECORDER)
    result = pytester.runpytest_subprocess(
        str(REPO / "suites" / "test_pass_at_k.py"), str(REPO / "suites" / "test_worst_case.py"), "-p",
        "loadrecorder", "-p", "no:cacheprovider", "--rootdir", str(pytester.path), "--model-pair", f"{cache},zoo:tiny-code@int4-rtn")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*suite 'pass_at_k' needs the live reference model, and this run has only the "
                                 "reference cache*", "*suite 'worst_case' needs the live reference model*"])
    assert (pytester.path / "loaded.txt").read_text().split() == ["zoo:tiny-code@int4-rtn"]  # the fixture's OPT


def test_a_reference_cache_option_that_names_no_cache_is_a_usage_error(pytester, tmp_path):
    pytester.makeini("[pytest]\n")
    result = pytester.runpytest_subprocess(SUITES[0], "-p", "no:cacheprovider", "--model-pair",
                                           "zoo:tiny-code,zoo:tiny-code@bf16", "--codeguard-reference-cache",
                                           str(tmp_path))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--codeguard-reference-cache {tmp_path}: not a reference cache directory (no "
                                 "manifest.json of one); build it with `codeguard reference-cache REF --out DIR`"])


def test_pass_at_k_runs_from_a_cache_with_the_references_completions(pytester, tmp_path):
    """A cache built with --pass-at-k holds the reference's completions: the pass_at_k suite then loads only OPT,
    executes both models' samples in this run's sandbox and gives the live run's metrics and verdict; another seed
    (or other problems) is refused by name, never served."""
    cache = tmp_path / "ref-cache"
    settings = ["--problems", "humaneval:3", "--samples", "2"]
    done = subprocess.run([sys.executable, "-m", "codeguard.cli", "reference-cache", "zoo:tiny-code-he", "--out",
                           str(cache), "--no-corpus", "--pass-at-k", *settings], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "suites/test_pass_at_k.py" in done.stdout and "2 completions per problem of humaneval:3" in done.stdout
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(loadrecorder=RECORDER)

    def gate(pair, report, *args):
        (pytester.path / "loaded.txt").unlink(missing_ok=True)
        result = pytester.runpytest_subprocess(
            str(REPO / "suites" / "test_pass_at_k.py"), "-p", "loadrecorder", "-p", "no:cacheprovider", "--rootdir",
            str(pytester.path), "--codeguard-baseline-dir", str(pytester.path / "baselines"), "--model-pair", pair,
            "--codeguard-problems", "humaneval:3", "--codeguard-samples", "2", "--codeguard-report",
            str(pytester.path / report), "--codeguard-no-completion-cache", *args)
        return result, (pytester.path / "loaded.txt").read_text().split()

    result, _ = gate("zoo:tiny-code-he,zoo:tiny-code-he", "accept", "--codeguard-update")
    result.assert_outcomes(passed=1)
    result, loaded = gate("zoo:tiny-code-he,zoo:tiny-code-he", "live")
    result.assert_outcomes(passed=1)
    assert loaded == ["zoo:tiny-code-he", "zoo:tiny-code-he"]
    result, loaded = gate(f"{cache},zoo:tiny-code-he", "cached")
    result.assert_outcomes(passed=1)
    assert loaded == ["zoo:tiny-code-he"]  # the candidate only
    live, cached = _gates(pytester, "live"), _gates(pytester, "cached")
    assert cached[0] == live[0] and cached[1] == live[1]
    assert cached[2]["models"]["ref"]["spec"] == "zoo:tiny-code-he"

    result, loaded = gate(f"{cache},zoo:tiny-code-he", "other-seed", "--codeguard-seed", "1")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*key pass_at_k generation does not match: seed 0 (cached) vs 1*"])


def test_baselines_scored_from_a_min_context_gate_only_runs_scored_the_same_way(pytester, corpus):
    """--codeguard-min-context (llama.cpp's second-half rule) is part of the corpus suites' measurement: a run
    without it fails against baselines accepted with it, naming the setting, and the other suites are unaffected."""
    pair = "zoo:tiny-code,zoo:tiny-code@bf16"
    result, _ = _gate(pytester, corpus, pair, "--codeguard-min-context", "16", "--codeguard-update", report="accept")
    result.assert_outcomes(passed=4)
    accepted = json.loads(next((pytester.path / "baselines").rglob("corpus_kld*.json")).read_text())
    assert accepted["probe_config"]["min_context"] == 16
    result, _ = _gate(pytester, corpus, pair, "--codeguard-min-context", "16", report="same")
    result.assert_outcomes(passed=4)
    result, _ = _gate(pytester, corpus, pair, report="other")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(["*measured with min_context=16, this run uses min_context=0*"])
