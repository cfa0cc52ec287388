"""codeguard's pytest plugin: options, markers, fixtures and reporting hooks only (logic lives in session.py).

PYTEST_DONT_REWRITE
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from codeguard import __version__
from codeguard.errors import CodeguardError
from codeguard.session import CodeguardSession, resolve_options
from codeguard.terminal import write_summary

SESSION_KEY = pytest.StashKey[CodeguardSession]()
REPORT_KEY = pytest.StashKey[dict]()  # report settings, start time, worker results and the outcome lines
CODEGUARD_FIXTURES = {"model_pair", "ref_model", "opt_model", "codeguard"}
SKIP_REASON = "codeguard: no --model-pair given"


def pytest_addoption(parser):
    group = parser.getgroup("codeguard", "codeguard: gate a compressed code LLM against its reference")
    group.addoption("--model-pair", dest="codeguard_model_pair", metavar="REF,OPT",
                    help="reference and optimized model specs, e.g. zoo:tiny-code,zoo:tiny-code@onnx-int8 "
                         "(env CODEGUARD_MODEL_PAIR, ini codeguard_model_pair)")
    group.addoption("--codeguard-baseline-dir", dest="codeguard_baseline_dir", metavar="DIR",
                    help="where baselines live (default: baselines/ under the rootdir)")
    group.addoption("--codeguard-slot", dest="codeguard_slot", metavar="NAME",
                    help="a named baseline slot, e.g. per deployment target (<suite>.<NAME>.json)")
    group.addoption("--codeguard-update", dest="codeguard_update", action="store_true",
                    help="accept the current candidate: (re)write every baseline the run touches")
    group.addoption("--codeguard-limit", dest="codeguard_limits", action="append", metavar="METRIC=VALUE",
                    help="an absolute limit on top of the baseline, e.g. js_divergence=0.01 (repeatable)")
    group.addoption("--codeguard-languages", dest="codeguard_languages", action="append", metavar="TOML",
                    help="an extra language registry file: add languages or extend keyword lists (repeatable)")
    group.addoption("--codeguard-corpus", dest="codeguard_corpus", metavar="DIR",
                    help="your own code for the teacher-forced probes, files grouped by extension "
                         "(default: the shipped per-language corpus)")
    group.addoption("--codeguard-ctx", dest="codeguard_ctx", metavar="N",
                    help="window length in tokens for the teacher-forced probes (default 512, capped at the "
                         "models' maximum context)")
    group.addoption("--codeguard-problems", dest="codeguard_problems", metavar="SPEC",
                    help="pass@k problems: humaneval, humaneval:N (first N), humaneval:sample:N:SEED or a JSONL file "
                         "in HumanEval format (default humaneval:40; ini codeguard_problems)")
    group.addoption("--codeguard-samples", dest="codeguard_samples", metavar="N",
                    help="pass@k samples per problem and model (default 5; ini codeguard_samples)")
    group.addoption("--codeguard-seed", dest="codeguard_seed", type=int, default=None, help="sampling seed")
    group.addoption("--codeguard-start-token", dest="codeguard_start_token", metavar="TOKEN",
                    help="cold-start token for tokenizers without BOS (default: BOS, else EOS)")
    group.addoption("--codeguard-rollouts", dest="codeguard_rollouts", type=int, default=None, metavar="N",
                    help="extended cold start: N sampled rollouts per model, reported (default 0)")
    parser.addini("codeguard_model_pair", "REF,OPT model specs", default="")
    parser.addini("codeguard_baseline_dir", "baseline folder, relative to the rootdir", default="")
    parser.addini("codeguard_slot", "baseline slot name", default="")
    parser.addini("codeguard_limits", "absolute limits, one METRIC=VALUE per line", type="linelist", default=[])
    parser.addini("codeguard_languages", "extra language registry files, one per line", type="linelist",
                  default=[])
    parser.addini("codeguard_corpus", "code folder for the teacher-forced probes", default="")
    parser.addini("codeguard_ctx", "window length for the teacher-forced probes", default="")
    parser.addini("codeguard_problems", "pass@k problems spec or JSONL file", default="")
    parser.addini("codeguard_samples", "pass@k samples per problem and model", default="")
    parser.addini("codeguard_seed", "sampling seed", default="")
    parser.addini("codeguard_start_token", "cold-start token", default="")
    parser.addini("codeguard_rollouts", "extended cold-start rollouts", default="")
    group.addoption("--codeguard-report", dest="codeguard_report", metavar="DIR",
                    help="write results.json, report.md and report.html of the run into DIR (ini codeguard_report)")
    group.addoption("--codeguard-history", dest="codeguard_history", metavar="FILE",
                    help="append the run to an SQLite history database (ini codeguard_history); render trends "
                         "with: codeguard report --history FILE --html OUT")
    group.addoption("--codeguard-no-gh-summary", dest="codeguard_no_gh_summary", action="store_true",
                    help="do not append the Markdown summary to $GITHUB_STEP_SUMMARY (ini codeguard_gh_summary)")
    parser.addini("codeguard_report", "report folder, relative to the rootdir", default="")
    parser.addini("codeguard_history", "history database file, relative to the rootdir", default="")
    parser.addini("codeguard_gh_summary", "append the summary to $GITHUB_STEP_SUMMARY when set", type="bool",
                  default=True)


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    config.addinivalue_line("markers", "codeguard: a codeguard gate test (needs --model-pair)")
    try:
        options = resolve_options(config)
    except CodeguardError as error:
        raise pytest.UsageError(f"codeguard: {error}") from None
    workers = getattr(config.option, "numprocesses", None)
    if options.update and (hasattr(config, "workerinput") or (workers not in (None, 0, "0"))):
        raise pytest.UsageError("codeguard: --codeguard-update writes baselines and must run in one process; "
                                "drop -n/--numprocesses (pytest-xdist) for the update run")
    config.stash[SESSION_KEY] = CodeguardSession(options)
    config.stash[REPORT_KEY] = {"report_dir": _report_path(config, "codeguard_report"),
                                "history": _report_path(config, "codeguard_history"),
                                "gh_summary": not config.getoption("codeguard_no_gh_summary")
                                and bool(config.getini("codeguard_gh_summary")),
                                "started": None, "worker_results": [], "lines": []}
    if config.pluginmanager.hasplugin("xdist") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(WorkerResults(config), "codeguard-worker-results")


def _report_path(config, name: str) -> Path | None:
    """The option as given (relative to the working directory), else the ini value (relative to the rootdir)."""
    value = config.getoption(name)
    if value:
        return Path(value)
    value = config.getini(name)
    return Path(config.rootpath) / value if value else None


class WorkerResults:
    """On the xdist controller: collects each worker's results (the gates run there), to report them as one."""

    def __init__(self, config):
        self.config = config

    def pytest_testnodedown(self, node, error):
        text = getattr(node, "workeroutput", {}).get("codeguard_results")
        if text:
            self.config.stash[REPORT_KEY]["worker_results"].append(json.loads(text))


def pytest_report_header(config):
    session = config.stash.get(SESSION_KEY, None)
    if session is None:
        return None
    o = session.options
    pair = o.model_pair or "none (codeguard gates skipped)"
    return (f"codeguard {__version__}: model-pair={pair} baselines={o.baseline_dir}"
            f"{'/' + o.slot if o.slot else ''} seed={o.seed} update={'yes' if o.update else 'no'}")


def pytest_collection_modifyitems(config, items):
    session = config.stash.get(SESSION_KEY, None)
    if session is None or session.options.model_pair:
        return
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if CODEGUARD_FIXTURES & set(getattr(item, "fixturenames", ())) or item.get_closest_marker("codeguard"):
            item.add_marker(skip)


def _session(request) -> CodeguardSession:
    return request.config.stash[SESSION_KEY]


def _or_fail(call):
    """Turns a user-caused codeguard error into a clean failure message (no deep traceback)."""
    __tracebackhide__ = True
    try:
        return call()
    except CodeguardError as error:
        message = f"codeguard: {error}"
    pytest.fail(message, pytrace=False)  # outside the except: no "during handling" chain in the report


@pytest.fixture(scope="session")
def model_pair(request):
    """The (ref, opt) pair named by --model-pair, loaded once per process."""
    session = _session(request)
    if not session.options.model_pair:
        pytest.skip(SKIP_REASON)
    return _or_fail(session.model_pair)


@pytest.fixture(scope="session")
def ref_model(model_pair):
    return model_pair.ref


@pytest.fixture(scope="session")
def opt_model(model_pair):
    return model_pair.opt


class CodeguardHelper:
    """The `codeguard` fixture: run probes on the pair and gate them against baselines."""

    def __init__(self, session: CodeguardSession, record_property):
        self._session = session
        self._record = record_property

    @property
    def options(self):
        return self._session.options

    def cold_start(self, **config):
        __tracebackhide__ = True
        return _or_fail(lambda: self._session.cold_start(**config))

    def keyword_mass(self, **config):
        """PKP/KAP/STP/NLP of both models from the start token, and their shifts (the study's aggregates)."""
        __tracebackhide__ = True
        return _or_fail(lambda: self._session.keyword_mass(**config))

    def corpus_kld(self, **config):
        """Teacher-forced KL divergence over the corpus, with llama.cpp's statistics, per language."""
        __tracebackhide__ = True
        return _or_fail(lambda: self._session.corpus_probe("corpus-kld", **config))

    def keyword_shift(self, **config):
        """Log-probabilities of keywords where they occur in real code, ref vs opt, per language."""
        __tracebackhide__ = True
        return _or_fail(lambda: self._session.corpus_probe("keyword-shift", **config))

    def pass_at_k(self, **config):
        """n samples per problem from both models, executed in the sandbox; pass@k and the paired comparison."""
        __tracebackhide__ = True
        return _or_fail(lambda: self._session.pass_at_k(**config))

    def worst_case(self, **config):
        """Hypothesis searches code prefixes for the largest next-token divergence; a prefix beyond the baseline's
        (or --codeguard-limit's) limit is shrunk, stored in .hypothesis/ and replayed first on the next run."""
        __tracebackhide__ = True
        return _or_fail(lambda: self._session.worst_case(**config))

    def baseline(self, suite: str):
        """The stored baseline for `suite` (read-only), or None."""
        path = self._session.baseline_file(suite)
        return _or_fail(lambda: self._session._read_if_present(path))

    def check(self, result, suite: str):
        """Gates `result` against the suite's baseline; fails the test with a metric table on regression."""
        __tracebackhide__ = True
        verdict = _or_fail(lambda: self._session.check(result, suite))
        for check in verdict.checks:
            self._record(f"codeguard.{suite}.{check.metric}", check.obtained)
        if not verdict.passed:
            pytest.fail(verdict.message(), pytrace=False)
        return verdict


@pytest.fixture
def codeguard(request, model_pair, record_property):
    return CodeguardHelper(_session(request), record_property)


def pytest_sessionstart(session):
    settings = session.config.stash.get(REPORT_KEY, None)
    if settings is not None:
        settings["started"] = (time.time(), time.perf_counter())


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    """Writes the reports; whatever happens there, the exit status stays the one the gates gave."""
    config = session.config
    codeguard_session, settings = config.stash.get(SESSION_KEY, None), config.stash.get(REPORT_KEY, None)
    if codeguard_session is None or settings is None:
        return
    from codeguard.report.run import finish_run, worker_payload
    if hasattr(config, "workerinput"):
        payload = worker_payload(codeguard_session)
        if payload:
            config.workeroutput["codeguard_results"] = payload
        return
    settings["lines"] = finish_run(codeguard_session, settings, exitstatus, Path(config.rootpath))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if hasattr(config, "workerinput"):
        return
    session = config.stash.get(SESSION_KEY, None)
    settings = config.stash.get(REPORT_KEY, None)
    if session is not None:
        write_summary(terminalreporter, session, settings["lines"] if settings else ())
