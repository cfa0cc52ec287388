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
from codeguard.plugin.fixture import CodeguardHelper, _or_fail
from codeguard.plugin.options import add_options, measurement_args, resolve_options
from codeguard.plugin.session import CodeguardSession
from codeguard.plugin.terminal import write_summary

SESSION_KEY = pytest.StashKey[CodeguardSession]()
CODEGUARD_FIXTURES = {"model_pair", "ref_model", "opt_model", "codeguard"}
SKIP_REASON = "codeguard: no --model-pair given"


def pytest_addoption(parser):
    add_options(parser)


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    config.addinivalue_line("markers", "codeguard(required=False): a codeguard gate test (needs --model-pair; "
                                       "required=True: no pair is a usage error, not a skip)")
    try:
        options = resolve_options(config)
    except CodeguardError as error:
        raise pytest.UsageError(f"codeguard: {error}") from None
    workers = getattr(config.option, "numprocesses", None)
    if options.update and (hasattr(config, "workerinput") or (workers not in (None, 0, "0"))):
        raise pytest.UsageError("codeguard: --codeguard-update writes baselines and must run in one process; "
                                "drop -n/--numprocesses (pytest-xdist) for the update run")
    config.stash[SESSION_KEY] = CodeguardSession(options)
    if config.pluginmanager.hasplugin("xdist") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(WorkerResults(config), "codeguard-worker-results")


class WorkerResults:
    """On the xdist controller: collects each worker's results (the gates run there), to report them as one."""

    def __init__(self, config):
        self.config = config

    def pytest_testnodedown(self, node, error):
        text = getattr(node, "workeroutput", {}).get("codeguard_results")
        if text:
            self.config.stash[SESSION_KEY].run.worker_results.append(json.loads(text))


def pytest_report_header(config):
    session = config.stash.get(SESSION_KEY, None)
    if session is None:
        return None
    o = session.options
    pair = o.model_pair or "none (codeguard gates skipped)"
    device = o.placement.describe() if o.placement is not None else o.device
    cache = f" reference-cache={o.reference_cache} (only OPT loads)" if o.reference_cache is not None else \
        " reference-cache=auto (kept under $CODEGUARD_CACHE/reference-caches)" if o.reference_cache_auto else \
        " reference-first (REF scores alone and is freed before OPT loads)" if o.reference_first else ""
    return (f"codeguard {__version__}: model-pair={pair}{cache} baselines={o.baseline_dir}"
            f"{'/' + o.slot if o.slot else ''} seed={o.seed} update={'yes' if o.update else 'no'} device={device}")


def pytest_collection_modifyitems(config, items):
    """Without a model pair, codeguard's gates are skipped (the plugin may sit in a repository that runs other
    tests), and the summary says so; where a pair is required (`codeguard_required`, or suites marked
    `codeguard(required=True)` as the shipped ones are), that is a usage error instead."""
    session = config.stash.get(SESSION_KEY, None)
    if session is None or session.options.model_pair:
        return
    gates = [item for item in items if CODEGUARD_FIXTURES & set(getattr(item, "fixturenames", ()))
             or item.get_closest_marker("codeguard")]
    requiring = [item.nodeid for item in gates
                 if (mark := item.get_closest_marker("codeguard")) is not None and mark.kwargs.get("required")]
    if gates and (session.options.required or requiring) and not config.option.collectonly:  # listing runs nothing
        why = ("codeguard_required is set" if session.options.required else
               f"{requiring[0]} requires a pair (its suite exists only to gate)")
        raise pytest.UsageError(
            f"codeguard: {len(gates)} gate(s) collected but no --model-pair given, and {why}: a gate that did not "
            "run must not pass. Give --model-pair REF,OPT (or CODEGUARD_MODEL_PAIR), e.g. "
            "--model-pair zoo:tiny-code,zoo:tiny-code@onnx-int8")
    session.run.skipped_without_pair = len(gates)
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in gates:
        item.add_marker(skip)


def _session(request) -> CodeguardSession:
    return request.config.stash[SESSION_KEY]


@pytest.fixture(scope="session")
def model_pair(request):
    """The (ref, opt) pair named by --model-pair, loaded once per process."""
    session = _session(request)
    if not session.options.model_pair:
        pytest.skip(SKIP_REASON)
    return _or_fail(session.model_pair)


@pytest.fixture(scope="session")
def ref_model(request, model_pair):
    """The live reference. Under --codeguard-reference-cache auto it loads here, on first need; with a given cache
    or --codeguard-reference-first there is none, and a test asking for it fails."""
    session = _session(request)
    if model_pair.cached and not session.options.reference_cache_auto:
        pytest.fail("codeguard: ref_model is not loaded in this run: the reference comes from a reference cache "
                    "(only OPT loads, or --codeguard-reference-first freed it); run this test with --model-pair "
                    "REF,OPT and without --codeguard-reference-first", pytrace=False)
    return _or_fail(lambda: session.live_pair("ref_model")).ref


@pytest.fixture(scope="session")
def opt_model(model_pair):
    return model_pair.opt


@pytest.fixture
def codeguard(request, model_pair, record_property):
    return CodeguardHelper(_session(request), record_property, origin=request.node.path)


def pytest_sessionstart(session):
    codeguard_session = session.config.stash.get(SESSION_KEY, None)
    if codeguard_session is not None:
        codeguard_session.run.started = (time.time(), time.perf_counter())


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    """Writes the reports; whatever happens there, the exit status stays the one the gates gave."""
    config = session.config
    codeguard_session = config.stash.get(SESSION_KEY, None)
    if codeguard_session is None:
        return
    # The report writers import matplotlib: only a run that reaches its end pays for them, not every pytest start.
    from codeguard.plugin.finish import finish_run, worker_payload
    if hasattr(config, "workerinput"):
        payload = worker_payload(codeguard_session)
        if payload:
            config.workeroutput["codeguard_results"] = payload
        return
    codeguard_session.run.lines = codeguard_session.run.notes + finish_run(codeguard_session, exitstatus,
                                                                           Path(config.rootpath))
    if codeguard_session.options.calibrate:
        from codeguard.plugin.finish import calibrate_written
        lines, failed = calibrate_written(codeguard_session, measurement_args(config))
        codeguard_session.run.lines += lines
        if failed:
            session.exitstatus = session.exitstatus or pytest.ExitCode.TESTS_FAILED


def pytest_unconfigure(config):
    session = config.stash.get(SESSION_KEY, None)
    if session is not None:
        session.close()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if hasattr(config, "workerinput"):
        return
    session = config.stash.get(SESSION_KEY, None)
    if session is not None:
        write_summary(terminalreporter, session, session.run.lines)
