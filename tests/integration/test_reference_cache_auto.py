"""--codeguard-reference-cache auto: the first run scores REF once into an exact cache under
$CODEGUARD_CACHE/reference-caches (REF freed before OPT loads), the next run with the same reference and settings
loads only OPT, each with the live run's verdicts and metrics bit for bit; other settings are another cache; the
disk budget holds; bad uses are usage errors."""
import pytest

from tests.helpers import DISTRIBUTION_SUITES, gate_outcomes, recorded_gate, write_small_corpus

pytestmark = pytest.mark.slow
PAIR = "zoo:tiny-code,zoo:tiny-code@int4-rtn"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A cache root of this test's own, so no other test's automatic caches are counted or reused."""
    (tmp_path / "corpus").mkdir()
    root = tmp_path / "cache"
    monkeypatch.setenv("CODEGUARD_CACHE", str(root))
    monkeypatch.delenv("CODEGUARD_REFERENCE_CACHE_GB", raising=False)
    return root


def _gate(pytester, corpus, pair, report, *args):
    result, loads = recorded_gate(pytester, corpus, pair, report, *args)
    return result, loads, gate_outcomes(pytester.path / report)[:2] if (pytester.path / report).exists() else None


def _caches(root):
    folder = root / "reference-caches"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_the_reference_is_scored_once_and_later_runs_load_only_the_candidate(pytester, tmp_path, cache):
    corpus = write_small_corpus(tmp_path / "corpus")
    ctx = ("--codeguard-ctx", "32")
    result, _, _ = _gate(pytester, corpus, "zoo:tiny-code,zoo:tiny-code@bf16", "accept", *ctx, "--codeguard-update")
    result.assert_outcomes(passed=4)
    result, loads, live = _gate(pytester, corpus, PAIR, "live", *ctx)
    result.assert_outcomes(failed=4)
    assert loads[:2] == ["load zoo:tiny-code", "load zoo:tiny-code@int4-rtn"]
    assert _caches(cache) == []  # without the option nothing is kept

    result, loads, first = _gate(pytester, corpus, PAIR, "first", *ctx, "--codeguard-reference-cache", "auto")
    result.assert_outcomes(failed=4)
    assert loads[:3] == ["load zoo:tiny-code", "freed zoo:tiny-code", "load zoo:tiny-code@int4-rtn"]
    result.stdout.fnmatch_lines(["*reference-cache=auto*", "*codeguard: scored zoo:tiny-code once into the reference "
                                 "cache *; the next run with the same reference and settings loads only OPT"])
    assert len(_caches(cache)) == 1
    assert first == live and any(failed for _, failed in live[1].values())  # metrics and verdicts, bit for bit

    result, loads, again = _gate(pytester, corpus, PAIR, "again", *ctx, "--codeguard-reference-cache", "auto")
    result.assert_outcomes(failed=4)
    assert [e for e in loads if e.startswith("load")] == ["load zoo:tiny-code@int4-rtn"]  # REF never loaded
    result.stdout.fnmatch_lines(["*codeguard: reference cache * zoo:tiny-code was not loaded"])
    assert again == live

    # another window size is another cache: REF scores again, the first cache stays
    result, loads, _ = _gate(pytester, corpus, PAIR, "other", "--codeguard-ctx", "24", "--codeguard-update",
                             "--codeguard-reference-cache", "auto")
    assert loads[:2] == ["load zoo:tiny-code", "freed zoo:tiny-code"]
    assert len(_caches(cache)) == 2


def test_a_cache_over_the_budget_is_used_once_and_not_kept(pytester, tmp_path, cache, monkeypatch):
    corpus = write_small_corpus(tmp_path / "corpus")
    monkeypatch.setenv("CODEGUARD_REFERENCE_CACHE_GB", "0")
    result, loads, _ = _gate(pytester, corpus, PAIR, "report", "--codeguard-ctx", "32", "--codeguard-update",
                             "--codeguard-reference-cache", "auto")
    result.assert_outcomes(passed=4)
    assert loads[:3] == ["load zoo:tiny-code", "freed zoo:tiny-code", "load zoo:tiny-code@int4-rtn"]
    result.stdout.fnmatch_lines(["*the reference cache of zoo:tiny-code (*) exceeds CODEGUARD_REFERENCE_CACHE_GB=0 "
                                 "GiB, so it was used once and not kept*"])
    assert _caches(cache) == []  # nothing left behind, not even the folder it was built in


@pytest.mark.parametrize("args, env, message", [
    (["--codeguard-reference-cache", "auto"], {},
     "--codeguard-reference-cache auto needs --model-pair REF,OPT (REF: the model whose scores are kept)"),
    (["--model-pair", PAIR, "--codeguard-reference-cache", "auto", "--codeguard-reference-first"], {},
     "--codeguard-reference-first scores the live reference, and this run reads it from the reference cache auto; "
     "give one of the two*"),
    (["--model-pair", "openai:http://127.0.0.1:9/v1#m?tokenizer=zoo:tiny-code,zoo:tiny-code",
      "--codeguard-reference-cache", "auto"], {}, "*is a served model, whose top-k log-probabilities cannot make an "
                                                  "exact cache*"),
    (["--model-pair", PAIR, "--codeguard-reference-cache", "auto"], {"CODEGUARD_REFERENCE_CACHE_GB": "lots"},
     "CODEGUARD_REFERENCE_CACHE_GB='lots': expected a size in GiB, 0 or more (e.g. 8 or 0.5)"),
])
def test_bad_uses_are_usage_errors_before_any_model_loads(pytester, cache, monkeypatch, args, env, message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    pytester.makeini("[pytest]\n")
    result = pytester.runpytest_subprocess(DISTRIBUTION_SUITES[0], "-p", "no:cacheprovider", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*codeguard: {message}"])
    assert _caches(cache) == []


USES_REF_MODEL = """
def test_the_models(ref_model, opt_model):
    assert ref_model.spec == "zoo:tiny-code" and opt_model.spec == "zoo:tiny-code@int4-rtn"
    assert ref_model.next_token_logprobs([[1, 2]]).shape == opt_model.next_token_logprobs([[1, 2]]).shape
"""


def test_ref_model_loads_the_reference_on_first_need(pytester, tmp_path, cache):
    corpus = write_small_corpus(tmp_path / "corpus")
    pytester.makepyfile(test_models=USES_REF_MODEL)
    suites = [*DISTRIBUTION_SUITES[:1], str(pytester.path / "test_models.py")]
    for _ in range(2):  # a miss, then a hit: REF loads only for the fixture
        result, loads = recorded_gate(pytester, corpus, PAIR, "report", "--codeguard-update",
                                      "--codeguard-reference-cache", "auto", suites=suites)
        result.assert_outcomes(passed=2)
    assert [e for e in loads if e.startswith("load")] == ["load zoo:tiny-code@int4-rtn", "load zoo:tiny-code"]
    result, _ = recorded_gate(pytester, corpus, PAIR, "report", "--codeguard-reference-first", suites=suites)
    result.assert_outcomes(passed=1, errors=1)  # a fixture that fails errors its test
    result.stdout.fnmatch_lines(["*codeguard: ref_model is not loaded in this run*"])
