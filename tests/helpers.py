"""Helpers the tests share: the repository root, ways to tamper with model folders, the README's code blocks, copying
a shipped suite into a pytester project, and llama-cpp-python's own OpenAI-compatible server (`python -m llama_cpp.server`) on a free
loopback port for the served-model tests (started on a .gguf file, waited for, stopped when the block ends)."""
from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[1]
DISTRIBUTION_SUITES = [str(REPO / "suites" / f"test_{name}.py") for name in ("cold_start", "keyword_mass", "corpus_kld",
                                                                              "keyword_shift")]


# A pytest plugin module for gate runs in a pytester folder (`-p loadrecorder`): appends every model load and every
# model's release (weakref.finalize) to events.txt, in order.
LOAD_RECORDER = '''
import weakref
import codeguard.models.loading as loading
_load = loading.load_model

def _log(line):
    with open("events.txt", "a") as handle:
        handle.write(line + "\\n")

def _recording(spec, *args, **kwargs):
    text = str(getattr(spec, "text", spec))
    _log("load " + text)
    model = _load(spec, *args, **kwargs)
    weakref.finalize(model, _log, "freed " + text)
    return model

loading.load_model = _recording
'''


def recorded_gate(pytester, corpus: Path, pair: str, report: str, *args, suites=DISTRIBUTION_SUITES):
    """Runs `suites` on `pair` over `corpus` in the pytester folder (own baselines, report folder `report`), with
    LOAD_RECORDER; returns (result, the loads and frees in order)."""
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(loadrecorder=LOAD_RECORDER)
    events = pytester.path / "events.txt"
    events.unlink(missing_ok=True)
    result = pytester.runpytest_subprocess(
        *suites, "-p", "loadrecorder", "-p", "no:cacheprovider", "--rootdir", str(pytester.path),
        "--codeguard-baseline-dir", str(pytester.path / "baselines"), "--codeguard-corpus", str(corpus),
        "--codeguard-report", str(pytester.path / report), "--model-pair", pair, *args)
    return result, events.read_text().splitlines() if events.exists() else []


def write_small_corpus(root: Path) -> Path:
    """A two-file, two-language corpus (Python, Go) small enough for an exact reference cache at ctx 32."""
    (root / "a.py").write_text("import os\n\n\ndef main(argv):\n    for arg in argv:\n        if arg:\n"
                               "            print(arg)\n    return 0\n" * 4)
    (root / "b.go").write_text("package main\n\nfunc add(a int, b int) int {\n\treturn a + b\n}\n" * 3)
    return root


def gate_outcomes(report_dir: Path) -> tuple[dict, dict, dict]:
    """(gate metrics per probe, (passed, failed metrics) per suite, the whole results.json) of a run's report."""
    data = json.loads((report_dir / "results.json").read_text())
    metrics = {p["probe"]: p["gate_metrics"] for p in data["probes"]}
    verdicts = {g["suite"]: (g["passed"], sorted(c["metric"] for c in g["checks"] if not c["passed"]))
                for g in data["gates"]}
    return metrics, verdicts, data


def set_bos(model_dir: Path, token: str) -> None:
    config_path = model_dir / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["bos_token"] = token
    config_path.write_text(json.dumps(config))


def readme_code_block(heading: str, language: str) -> str:
    """The first fenced ```language block of the README section `heading` (a `## ` line, up to the next one), so a
    test runs the README's words as written."""
    text = (REPO / "README.md").read_text()
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    section = text[start:end if end != -1 else len(text)]
    fence = f"\n```{language}\n"
    begin = section.index(fence) + len(fence)
    return section[begin:section.index("\n```", begin) + 1]


def write_suite(pytester) -> None:
    pytester.makepyfile(test_cold_start=(REPO / "suites" / "test_cold_start.py").read_text())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def llama_server(model_path, alias: str, n_ctx: int, threads: int = 1):
    """Yields the port of a server serving `model_path` as `alias` with a context of `n_ctx` positions."""
    port = free_port()
    log = open(os.devnull, "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path), "--model_alias", alias,
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(threads)],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {process.returncode} (is the gguf extra's [server] part "
                            "installed? pip install 'llama-cpp-python[server]')")
            try:
                if requests.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("llama_cpp.server did not answer within 90 s")
            time.sleep(0.25)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
