"""`results.json`: every probe result and gate verdict of one run, the one input every report renders.

Schema "codeguard-results", version 1 (a reader refuses other versions by name):

    schema            "codeguard-results"
    schema_version    1
    codeguard_version the writer's version
    run               id (hex), started / finished (ISO 8601 UTC), duration_s, invocation (argv), exit_status
                      (pytest's, None when unknown), model_pair ("REF,OPT"), slot, update (bool),
                      git {commit, dirty} or None, machine {host, platform, machine, python_executable}
    versions          package -> installed version (None when absent): codeguard, python, pytest, torch, ...
    models            ref / opt: {spec, fingerprint, backend} (of the first probe result; None without one)
    probes            list of {probe, wall_s, ref, opt, gate_metrics, approximate, result}: `approximate` is true
                      when the metrics come from a model whose distributions are approximate (a served model's
                      top-k log-probabilities; ref/opt carry `approximate` per model); `result` is the probe result's
                      own to_dict() (config, metrics and every detail a report shows), `gate_metrics` the flat
                      metrics a gate reads, `wall_s` the seconds of the probe call (the two corpus probes run in
                      one pass and both carry its time; None when the result came from elsewhere)
    gates             list of GateVerdict.to_dict() plus `probe` (index into `probes`, or None) and, per check,
                      `tolerance` ({rtol, atol} from the baseline the gate read; None for an absolute limit)
    baselines_written list of {path, diff} (update runs)
    tokenizers        list of TokenizerAnalysis.to_dict() (the pair's tokenizer, when a gate loaded the models)
    summary           passed (all gates), gates, failed_gates (suite names), failed_checks

Non-finite numbers (a NaN metric that failed its gate, an infinite relative shift) are written as the bare
tokens NaN / Infinity, as Python's json module reads and writes them, so a load gives back what was dumped.

Where and with what a run happened: package versions, platform, host and the git commit of the rootdir.
"""
from __future__ import annotations

import json
import platform
import subprocess
import sys
import uuid
from dataclasses import asdict, is_dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from codeguard import __version__
from codeguard.atomic_files import json_text, write_text_atomically
from codeguard.errors import ReportError

SCHEMA = "codeguard-results"
SCHEMA_VERSION = 1
CHECK_KEYS = ("metric", "obtained", "baseline", "limit", "direction", "source", "passed")


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def probe_entry(result, wall_s: float | None = None) -> dict:
    return {"probe": result.probe, "wall_s": wall_s, "ref": asdict(result.ref), "opt": asdict(result.opt),
            "gate_metrics": dict(result.gate_metrics()),
            "approximate": bool(getattr(result, "approximate_metrics", list)()),
            "approximate_metrics": list(getattr(result, "approximate_metrics", list)()), "result": result.to_dict()}


def gate_entry(verdict, probes: list[dict]) -> dict:
    data = verdict.to_dict()
    data["probe"] = _probe_of(data, probes)
    return data


def _probe_of(gate: dict, probes: list[dict]) -> int | None:
    """The probe result a verdict gated: same models, the most of its checked metrics (suite names are free)."""
    names = {check["metric"] for check in gate["checks"]}
    best, best_overlap = None, 0
    for index, probe in enumerate(probes):
        if (probe["ref"]["spec"], probe["opt"]["spec"]) != (gate["ref"], gate["opt"]):
            continue
        overlap = len(names & set(probe["gate_metrics"]))
        if overlap > best_overlap:
            best, best_overlap = index, overlap
    return best


def build_results(timed_results, verdicts, written=(), *, tokenizers=(), run: dict | None = None) -> dict:
    """The results document of a run from its probe results (with wall seconds), verdicts and written baselines."""
    probes = [probe_entry(result, wall_s) for result, wall_s in timed_results]
    gates = [gate_entry(verdict, probes) for verdict in verdicts]
    first = probes[0] if probes else None
    run_info = {"id": uuid.uuid4().hex, "started": None, "finished": utc_now(), "duration_s": None,
                "invocation": [], "exit_status": None, "model_pair": None, "slot": None, "update": False,
                "git": None, "machine": machine(), **(run or {})}
    failed = [gate for gate in gates if not gate["passed"]]
    return {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "codeguard_version": __version__, "run": run_info,
        "versions": versions(),
        "models": {"ref": first["ref"] if first else None, "opt": first["opt"] if first else None},
        "probes": probes, "gates": gates,
        "baselines_written": [{"path": str(w.path), "diff": w.diff} for w in written],
        "tokenizers": [_plain(t.to_dict() if hasattr(t, "to_dict") else t) for t in tokenizers],
        "summary": {"passed": not failed, "gates": len(gates), "failed_gates": [g["suite"] for g in failed],
                    "failed_checks": sum(1 for g in gates for c in g["checks"] if not c["passed"])},
    }


def _plain(value):
    """JSON-ready copies of what probe results hold (dataclasses, tuples, numpy scalars, paths)."""
    if is_dataclass(value) and not isinstance(value, type):
        return _plain(asdict(value))
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return value.item()
    return value


def dumps(data: dict) -> str:
    """results.json's text: insertion order kept (reports show languages and probes in the order measured)."""
    return json_text(_plain(data), sort_keys=False)


def write_results(data: dict, path: Path) -> Path:
    validate_results(data, str(path))
    write_text_atomically(Path(path), dumps(data))
    return Path(path)


def load_results(path: Path) -> dict:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ReportError(f"cannot read results file {path}: {error.strerror or error}") from None
    try:
        data = json.loads(text)
    except ValueError as error:
        raise ReportError(f"results file {path} is not valid JSON ({error}); write it again with "
                          "pytest --codeguard-report DIR") from None
    validate_results(data, str(path))
    return data


def check_envelope(data, source: str, schema: str, version: int, keys: tuple[tuple[str, type], ...], what: str,
                   reader: str = f"this codeguard ({__version__})"):
    """The checks every codeguard JSON document shares: its schema name and version, and its top-level keys.

    Returns the `fail(problem)` function, raising ReportError naming `source`, for the document's own checks.
    """
    def fail(problem):
        raise ReportError(f"{source}: {problem}")
    if not isinstance(data, dict) or data.get("schema") != schema:
        fail(f"not a codeguard {what} file (expected \"schema\": \"{schema}\")")
    if data.get("schema_version") != version:
        fail(f"schema_version {data.get('schema_version')!r}; {reader} reads version {version}. Render it with "
             f"the codeguard that wrote it ({data.get('codeguard_version')})")
    for key, kind in keys:
        if not isinstance(data.get(key), kind):
            fail(f"key {key!r} must be a {kind.__name__}")
    return fail


def validate_results(data, source: str = "results") -> None:
    """Raises ReportError naming `source` and the offending key when `data` is not a results document v1."""
    fail = check_envelope(data, source, SCHEMA, SCHEMA_VERSION,
                          (("run", dict), ("versions", dict), ("models", dict), ("probes", list), ("gates", list),
                           ("baselines_written", list), ("tokenizers", list), ("summary", dict)), "results")
    for i, probe in enumerate(data["probes"]):
        if not isinstance(probe, dict) or not isinstance(probe.get("probe"), str) \
                or not isinstance(probe.get("result"), dict) or not isinstance(probe.get("gate_metrics"), dict):
            fail(f"probes[{i}] needs 'probe' (text), 'result' and 'gate_metrics' (objects)")
    for i, gate in enumerate(data["gates"]):
        if not isinstance(gate, dict) or not isinstance(gate.get("suite"), str) \
                or not isinstance(gate.get("checks"), list) or not isinstance(gate.get("passed"), bool):
            fail(f"gates[{i}] needs 'suite' (text), 'passed' (true/false) and 'checks' (a list)")
        probe = gate.get("probe")
        if probe is not None and not (isinstance(probe, int) and 0 <= probe < len(data["probes"])):
            fail(f"gates[{i}].probe {probe!r} is not an index into 'probes'")
        for j, check in enumerate(gate["checks"]):
            missing = [k for k in CHECK_KEYS if not isinstance(check, dict) or k not in check]
            if missing:
                fail(f"gates[{i}].checks[{j}] lacks {', '.join(missing)}")
            if not isinstance(check["obtained"], (int, float)) or isinstance(check["obtained"], bool):
                fail(f"gates[{i}].checks[{j}].obtained must be a number")


def merge_results(documents: list[dict], run: dict | None = None) -> dict:
    """One document from several processes' (pytest-xdist workers each gate their share of the tests)."""
    documents = [d for d in documents if d]
    if not documents:
        raise ReportError("no results to merge")
    merged = json.loads(dumps(documents[0]))
    merged["probes"], merged["gates"], merged["baselines_written"], merged["tokenizers"] = [], [], [], []
    seen_tokenizers = set()
    for document in documents:
        offset = len(merged["probes"])
        merged["probes"] += document["probes"]
        for gate in document["gates"]:
            merged["gates"].append({**gate, "probe": None if gate.get("probe") is None else gate["probe"] + offset})
        merged["baselines_written"] += document["baselines_written"]
        for analysis in document["tokenizers"]:
            if analysis.get("spec") not in seen_tokenizers:
                seen_tokenizers.add(analysis.get("spec"))
                merged["tokenizers"].append(analysis)
    if not merged["models"].get("ref"):
        merged["models"] = next((d["models"] for d in documents if d["models"].get("ref")), merged["models"])
    merged["run"].update(run or {})
    failed = [gate for gate in merged["gates"] if not gate["passed"]]
    merged["summary"] = {"passed": not failed, "gates": len(merged["gates"]),
                         "failed_gates": [g["suite"] for g in failed],
                         "failed_checks": sum(1 for g in merged["gates"] for c in g["checks"] if not c["passed"])}
    return merged


PACKAGES = ("pytest", "torch", "transformers", "onnxruntime", "optimum-onnx", "numpy", "tokenizers", "gguf")


def versions() -> dict[str, str | None]:
    """Installed versions, read from package metadata (importing torch just to ask would cost seconds)."""
    found = {"codeguard": __version__, "python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def machine() -> dict[str, str]:
    return {"host": platform.node(), "platform": platform.platform(), "machine": platform.machine(),
            "python_executable": sys.executable}


def git_state(root: Path) -> dict | None:
    """Commit and dirtiness of the checkout a run came from; None outside git (a report still works)."""
    def git(*args):
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return None
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": head.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
