"""--codeguard-reference-first: the reference scores alone and is freed before the candidate loads (one model
resident at a time), and the distribution suites give the verdicts and metrics of the run with both loaded."""
import os
import shutil
from pathlib import Path

import pytest

from codeguard.errors import ReferenceCacheError
from codeguard.probes.reference_cache import build
from tests.helpers import DISTRIBUTION_SUITES, REPO, gate_outcomes, recorded_gate, write_small_corpus

pytestmark = pytest.mark.slow

SUITES = DISTRIBUTION_SUITES


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_small_corpus(tmp_path_factory.mktemp("corpus"))


def _gate(pytester, corpus, pair, *args, report="report", suites=SUITES):
    return recorded_gate(pytester, corpus, pair, report, "--codeguard-ctx", "32", *args, suites=suites)


def _gates(pytester, report):
    return gate_outcomes(pytester.path / report)[:2]


def test_the_reference_is_freed_before_the_candidate_loads_and_the_verdicts_are_the_live_ones(pytester, corpus):
    result, _ = _gate(pytester, corpus, "zoo:tiny-code,zoo:tiny-code@bf16", "--codeguard-update", report="accept")
    result.assert_outcomes(passed=4)
    result, events = _gate(pytester, corpus, "zoo:tiny-code,zoo:tiny-code@int4-rtn", report="live")
    result.assert_outcomes(failed=4)
    assert events[:2] == ["load zoo:tiny-code", "load zoo:tiny-code@int4-rtn"]  # both resident
    live_metrics, live_verdicts = _gates(pytester, "live")

    result, events = _gate(pytester, corpus, "zoo:tiny-code,zoo:tiny-code@int4-rtn", "--codeguard-reference-first",
                           report="first")
    result.assert_outcomes(failed=4)
    assert events[:3] == ["load zoo:tiny-code", "freed zoo:tiny-code", "load zoo:tiny-code@int4-rtn"]
    result.stdout.fnmatch_lines(["*reference-first (REF scores alone and is freed before OPT loads)*"])
    first_metrics, first_verdicts = _gates(pytester, "first")
    assert first_verdicts == live_verdicts and any(failed for _, failed in live_verdicts.values())
    assert first_metrics == live_metrics  # an exact cache: every number bit for bit
    scratch = Path(os.environ["CODEGUARD_CACHE"]) / "reference-first"
    assert scratch.is_dir() and not any(scratch.iterdir())  # the run's cache is removed at its end


def test_suites_that_need_both_models_fail_under_reference_first(pytester, corpus):
    suites = [str(REPO / "suites" / "test_pass_at_k.py"), str(REPO / "suites" / "test_worst_case.py")]
    result, _ = _gate(pytester, corpus, "zoo:tiny-code,zoo:tiny-code@int4-rtn", "--codeguard-reference-first",
                      suites=suites)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*suite 'pass_at_k' needs the reference and the candidate loaded together, and "
                                 "--codeguard-reference-first freed the reference*",
                                 "*suite 'worst_case' needs the reference and the candidate loaded together*"])


def test_reference_first_with_a_reference_cache_is_a_usage_error(pytester, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "manifest.json").write_text('{"kind": "codeguard-reference-cache"}')
    pytester.makeini("[pytest]\n")
    result = pytester.runpytest_subprocess(SUITES[0], "-p", "no:cacheprovider", "--model-pair",
                                           f"{cache},zoo:tiny-code@bf16", "--codeguard-reference-first")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*codeguard: --codeguard-reference-first scores the live reference, and this run "
                                 f"reads it from the reference cache {cache}; give one of the two"])


def test_an_exact_cache_the_disk_cannot_hold_is_refused_before_the_reference_scores(monkeypatch, tmp_path, corpus):
    from codeguard import load_model
    from codeguard.probes.corpus.teacher_forced import TeacherForcedConfig
    ref = load_model("zoo:tiny-code")
    scored = []
    monkeypatch.setattr(ref, "sequence_logits", lambda windows: scored.append(windows))
    monkeypatch.setattr(build.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(1 << 40, 0, 100 << 20))
    with pytest.raises(ReferenceCacheError) as error:
        build.build_reference_cache(ref, tmp_path / "out", TeacherForcedConfig(ctx=32, corpus=str(corpus)),
                                    mode="exact")
    assert scored == []
    message = str(error.value)
    assert message.startswith(f"reference cache {tmp_path / 'out'}: exact mode needs ") and \
        " x 8192 logits x 4 bytes) plus 0.25 GiB of room, and that file system has 0.0977 GiB free; free some, " \
        "write the cache elsewhere (--out, or $CODEGUARD_CACHE for --codeguard-reference-first), use a smaller " \
        "corpus, or top-k mode" in message


@pytest.mark.parametrize("probe", ["cold-start", "corpus-kld", "keyword-shift"])
def test_the_cli_gives_the_same_numbers_with_the_reference_first(probe, corpus, tmp_path, capsys):
    from codeguard.cli.main import main
    import json
    common = ["compare", "zoo:tiny-code", "zoo:tiny-code@int4-rtn", "--probe", probe, "--corpus", str(corpus),
              "--ctx", "32"]
    assert main([*common, "--json", str(tmp_path / "both.json")]) == 0
    assert main([*common, "--reference-first", "--json", str(tmp_path / "first.json")]) == 0
    both, first = (json.loads((tmp_path / f"{name}.json").read_text()) for name in ("both", "first"))
    ref_first, ref_both = first.pop("ref"), both.pop("ref")
    assert ref_first["backend"] == f"{ref_both['backend']} via reference-cache (exact)"
    assert (ref_first["spec"], ref_first["fingerprint"]) == (ref_both["spec"], ref_both["fingerprint"])
    assert first == both  # every number


def test_the_cli_refuses_reference_first_for_pass_at_k():
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-m", "codeguard.cli.main", "compare", "zoo:tiny-code",
                           "zoo:tiny-code@bf16", "--probe", "pass-at-k", "--reference-first"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--reference-first: pass-at-k needs both models at once; drop --reference-first" in proc.stderr
