"""Calibration as one run (the library part of `codeguard calibrate` and of `--codeguard-calibrate`): the accepted
candidate's real gate suites, run again under the environment changes that differ between a developer's machine
and CI, and tolerances derived from the spread the runs measured (the rule: `codeguard.gating.calibration`).

Every run is a real gate run on the real models: `python -m pytest <suite files> --model-pair REF,OPT` in a fresh
process (the CPU kernel set is chosen when torch is imported, so nothing less than a new process can change it),
with the perturbation's environment and options, against a temporary copy of the baselines (a run never writes
into the project's baselines), its results read back from `--codeguard-report`'s results.json. The perturbations:

- `as-is`: the environment unchanged;
- `threads=1`, `threads=N` (N: the cores this process may use, when > 1): torch/OpenMP/MKL threads
  (`OMP_NUM_THREADS`, `MKL_NUM_THREADS`), ONNX Runtime's intra-op threads (`CODEGUARD_ORT_THREADS`, default 1) and
  llama.cpp's (`CODEGUARD_GGUF_THREADS`);
- `kernels=default`, `kernels=avx2`, `kernels=avx512`: the CPU instruction set torch computes with, for its own
  kernels (`ATEN_CPU_CAPABILITY`) and for the matrix products it hands to MKL (`MKL_ENABLE_INSTRUCTIONS`) and
  oneDNN (`ONEDNN_MAX_CPU_ISA`), each only where /proc/cpuinfo says the CPU has it (a machine with AVX-512 can
  compute like one without, not the reverse; the libraries silently fall back to what the CPU has, so an
  unsupported set would be a mislabelled repeat). ATen's variable alone left the matrix products on this CPU's
  widest path: a baseline calibrated that way raised a false alarm on the accepted candidate when MKL and oneDNN
  were held to SSE4 (bench/RESULTS.md). ONNX Runtime's kernels choose their instruction set from the CPU with no
  such switch, so a change of CPU family can still move an ONNX candidate beyond what these runs show;
- `batch=small`: 512 padded tokens per forward pass instead of 4096 (`CODEGUARD_TOKEN_BUDGET`): other batch
  compositions, which move ONNX Runtime's dynamic int8 (it quantizes activations per tensor, over the batch);
- `seed=S` for S in 1..seeds-1, for the sampling suites only (pass_at_k, worst_case): another sample of the same
  candidate (the other runs use the configured seed).

Refusals (each a ConfigError naming the culprit): a suite without a baseline (calibration measures an accepted
candidate: accept it with --codeguard-update first), an OPT that is not the baseline's accepted candidate (by spec
before the runs, by fingerprint after), a run that fails or measures a non-finite value, fewer than 2 runs.
"""
from __future__ import annotations

import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from codeguard import __version__
from codeguard.errors import ConfigError
from codeguard.gating.baselines import Baseline, baseline_path, load_baseline, reference_folder, write_baseline
from codeguard.gating.calibration import DEFAULT_MARGIN, CalibratedTolerance, apply_calibration, calibrate_baseline
from codeguard.gating.rules import rules_for
from codeguard.models.specs import parse_spec
from codeguard.number_format import fmt
from codeguard.report.results import load_results, utc_now

SAMPLING_SUITES = ("pass_at_k", "worst_case")  # their probes draw with --codeguard-seed
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "CODEGUARD_ORT_THREADS", "CODEGUARD_GGUF_THREADS")
SMALL_TOKEN_BUDGET = 512
DEFAULT_SEEDS = 4
# ATEN_CPU_CAPABILITY value -> the /proc/cpuinfo flags torch needs for it (aten/src/ATen/native/DispatchStub.cpp)
KERNEL_SETS = {"default": (), "avx2": ("avx2", "fma"), "avx512": ("avx512f", "avx512bw", "avx512vl", "avx512dq")}
# ... and the environment that holds torch's kernels and its matrix-product libraries to that set. MKL's and
# oneDNN's names for the same level: `default` is ATen's unvectorized path, whose nearest library level is SSE4;
# `avx512` stops short of VNNI/BF16/AMX, which the as-is run already uses where the CPU has them.
KERNEL_ENV = {
    "default": (("ATEN_CPU_CAPABILITY", "default"), ("MKL_ENABLE_INSTRUCTIONS", "SSE4_2"),
                ("ONEDNN_MAX_CPU_ISA", "SSE41")),
    "avx2": (("ATEN_CPU_CAPABILITY", "avx2"), ("MKL_ENABLE_INSTRUCTIONS", "AVX2"), ("ONEDNN_MAX_CPU_ISA", "AVX2")),
    "avx512": (("ATEN_CPU_CAPABILITY", "avx512"), ("MKL_ENABLE_INSTRUCTIONS", "AVX512"),
               ("ONEDNN_MAX_CPU_ISA", "AVX512_CORE")),
}


@dataclass(frozen=True)
class Perturbation:
    """One calibration run's changes: environment variables, and a seed (None: the configured one)."""

    name: str
    env: tuple[tuple[str, str], ...] = ()
    seed: int | None = None

    @property
    def sampling_only(self) -> bool:
        """A seed changes only what the sampling suites measure: the other suites skip this run."""
        return self.seed is not None

    def to_dict(self) -> dict:
        return {"name": self.name, "env": dict(self.env), **({"seed": self.seed} if self.seed is not None else {})}


@dataclass
class RunOutcome:
    """What one run measured: suite -> metric -> value, with the models' fingerprints and the run's exit status."""

    perturbation: Perturbation
    suites: tuple[str, ...]
    exit_status: int
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    fingerprints: dict[str, tuple[str, str]] = field(default_factory=dict)  # suite -> (ref, opt)
    passed: dict[str, bool] = field(default_factory=dict)  # suite -> the run's own gate verdict
    wall_s: float = 0.0
    output: str = ""


@dataclass
class SuiteCalibration:
    suite: str
    path: Path
    baseline: Baseline
    tolerances: dict[str, CalibratedTolerance]
    calibrated: Baseline
    runs: list[str]


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str] | None:
    """The CPU's feature flags, or None where /proc/cpuinfo has none (not Linux on x86)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return None


def plan_runs(seeds: int = DEFAULT_SEEDS, flags: set[str] | None = None, cores: int | None = None,
              only: list[str] | None = None) -> tuple[list[Perturbation], list[str]]:
    """The runs of a calibration (as-is first) and notes on what was skipped and why. `only` keeps the named
    perturbations (`threads=1`, `kernels`, `seed`: a name, or its part before '=')."""
    cores = cores or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    runs = [Perturbation("as-is")]
    runs += [Perturbation(f"threads={n}", tuple((v, str(n)) for v in THREAD_VARIABLES))
             for n in dict.fromkeys((1, cores)) if n >= 1]
    notes = []
    if flags is None:
        notes.append("kernels=*: skipped: no CPU flags in /proc/cpuinfo (torch's ATEN_CPU_CAPABILITY sets are x86's)")
    else:
        for name, needed in KERNEL_SETS.items():
            lacking = [flag for flag in needed if flag not in flags]
            if lacking:
                notes.append(f"kernels={name}: skipped: this CPU lacks {', '.join(lacking)} (/proc/cpuinfo)")
            else:
                runs.append(Perturbation(f"kernels={name}", KERNEL_ENV[name]))
    runs.append(Perturbation("batch=small", (("CODEGUARD_TOKEN_BUDGET", str(SMALL_TOKEN_BUDGET)),)))
    runs += [Perturbation(f"seed={seed}", seed=seed) for seed in range(1, seeds)]
    if only:
        known = {r.name for r in runs} | {r.name.partition("=")[0] for r in runs}
        unknown = [name for name in only if name not in known and name != "as-is"]
        if unknown:
            raise ConfigError(f"--perturbations {','.join(unknown)}: unknown here; this machine's runs are "
                              + ", ".join(r.name for r in runs))
        runs = [r for r in runs if r.name in only or r.name.partition("=")[0] in only or r.name == "as-is"]
    return runs, notes


def suite_files(suites: list[str], tests: Path | None = None) -> dict[str, Path]:
    """suite -> its test file (`test_<suite>.py`) in `tests` (default: the project's `suites/` folder if it has
    the file, else the ready-made suites shipped with codeguard)."""
    folders = [Path(tests)] if tests else [Path("suites"), _shipped_suites()]
    files = {}
    for suite in suites:
        rules_for(suite)  # an undeclared suite is an error naming the declared ones
        found = next((f / f"test_{suite}.py" for f in folders if f and (f / f"test_{suite}.py").is_file()), None)
        if found is None:
            raise ConfigError(f"suite {suite!r}: no test_{suite}.py in {' or '.join(str(f) for f in folders if f)}; "
                              "name the folder holding the suite files with --tests DIR")
        files[suite] = found
    return files


def _shipped_suites() -> Path | None:
    import importlib.util
    spec = importlib.util.find_spec("codeguard.suites")
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    checkout = Path(__file__).resolve().parents[1] / "suites"  # a source checkout: suites/ beside codeguard/
    return checkout if checkout.is_dir() else None


def check_accepted(baseline: Baseline, path: Path, opt_spec: str, opt_fingerprint: str | None = None) -> None:
    """Calibration measures the noise of the candidate the baseline accepted, and of nothing else."""
    accepted = baseline.accepted.get("spec")
    if accepted != opt_spec:
        raise ConfigError(f"{path} accepted {accepted}, not {opt_spec}: calibration measures the accepted "
                          f"candidate's spread. Calibrate {accepted}, or accept {opt_spec} first with "
                          "--codeguard-update")
    expected = baseline.accepted.get("fingerprint")
    if opt_fingerprint is not None and expected and opt_fingerprint != expected:
        raise ConfigError(f"{path} accepted {accepted} with fingerprint {expected}; the runs loaded "
                          f"{opt_fingerprint} (the same spec, other weights: another derivation toolchain?). "
                          "Accept these weights first with --codeguard-update")


def run_gate(perturbation: Perturbation, files: list[Path], pair: str, baseline_dir: Path, report_dir: Path,
             slot: str | None = None, pytest_args: list[str] = (), cwd: Path | None = None,
             timeout: float | None = None) -> RunOutcome:
    """One real gate run in a fresh process under `perturbation`; the metrics every suite's probe measured."""
    env = {**os.environ, **dict(perturbation.env)}
    env.pop("GITHUB_STEP_SUMMARY", None)  # a calibration run is not the CI job's gate
    package_root = Path(__file__).resolve().parents[1]
    if package_root.name not in ("site-packages", "dist-packages"):  # a checkout: the child imports this codeguard
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(package_root), env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "pytest", *map(str, files), "-q", "-p", "no:cacheprovider",
               "--model-pair", pair, "--codeguard-baseline-dir", str(baseline_dir),
               "--codeguard-report", str(report_dir), "--codeguard-no-gh-summary",
               "--codeguard-no-completion-cache",  # every run samples ref too: its share of the noise counts
               *(["--codeguard-slot", slot] if slot else []), *pytest_args,
               *(["--codeguard-seed", str(perturbation.seed)] if perturbation.seed is not None else [])]
    started = time.perf_counter()
    try:
        proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ConfigError(f"calibration run {perturbation.name} did not finish within {timeout:g} s: "
                          f"{shlex.join(command)}") from None
    outcome = RunOutcome(perturbation, (), proc.returncode, wall_s=time.perf_counter() - started,
                         output=(proc.stdout + proc.stderr)[-4000:])
    results = report_dir / "results.json"
    if proc.returncode not in (0, 1) or not results.is_file():
        return outcome  # the caller refuses, quoting the output
    data = load_results(results)
    for gate in data["gates"]:
        probe = data["probes"][gate["probe"]] if gate.get("probe") is not None else None
        outcome.metrics[gate["suite"]] = {c["metric"]: c["obtained"] for c in gate["checks"]
                                          if c["source"] == "baseline"}
        outcome.passed[gate["suite"]] = bool(gate["passed"])
        if probe is not None:
            outcome.fingerprints[gate["suite"]] = (probe["ref"]["fingerprint"], probe["opt"]["fingerprint"])
    for probe in data["probes"]:  # a gate that raised before checking (e.g. another probe config) left its probe
        suite = probe["probe"].replace("-", "_")
        if suite not in outcome.metrics:
            outcome.metrics[suite] = dict(probe["gate_metrics"])
            outcome.fingerprints[suite] = (probe["ref"]["fingerprint"], probe["opt"]["fingerprint"])
    return outcome


def calibrate(ref: str, opt: str, suites: list[str], baseline_dir: Path, *, slot: str | None = None,
              margin: float = DEFAULT_MARGIN, seeds: int = DEFAULT_SEEDS, only: list[str] | None = None,
              tests: Path | None = None, files: dict[str, Path] | None = None, pytest_args: list[str] = (),
              project: Path | None = None, dry_run: bool = False, log=None, timeout: float | None = None
              ) -> list[SuiteCalibration]:
    """Runs the accepted candidate's suites under every perturbation and writes the calibrated tolerances into
    their baselines (unless `dry_run`); returns each suite's calibration. `files` (suite -> test file) replaces
    the lookup of `test_<suite>.py` in `tests`. Runs start in the current folder; `project` (default: the current
    folder) is what a local reference's baseline folder name is relative to, as in the plugin."""
    project = Path(project or Path.cwd())
    log = log or (lambda line: print(line, flush=True))  # progress shows while a run takes minutes
    ref_spec = parse_spec(ref)
    parse_spec(opt)
    if not suites:
        raise ConfigError("no suite to calibrate: name them with --suites, e.g. --suites cold_start")
    files = {s: Path(f).absolute() for s, f in (files or suite_files(suites, tests)).items()}
    baselines = {}
    for suite in suites:
        path = baseline_path(baseline_dir, reference_folder(ref_spec, project), suite, slot)
        if not path.is_file():
            raise ConfigError(f"suite {suite!r} has no baseline at {path}: calibration measures the spread of an "
                              f"accepted candidate; accept {opt} first with: pytest {files[suite]} --model-pair "
                              f"{ref},{opt} --codeguard-update")
        baseline = load_baseline(path)
        check_accepted(baseline, path, opt)
        baselines[suite] = (path, baseline)
    runs, notes = plan_runs(seeds, cpu_flags(), only=only)
    for note in notes:
        log(f"codeguard calibrate: {note}")
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="codeguard-calibrate-") as scratch:
        copy = Path(scratch) / "baselines"
        for suite, (path, _) in baselines.items():  # the runs gate against a copy: nothing they do reaches these
            target = copy / path.relative_to(baseline_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        for index, run in enumerate(runs):
            run_suites = [s for s in suites if not run.sampling_only or s in SAMPLING_SUITES]
            if not run_suites:
                continue
            log(f"codeguard calibrate: run {index + 1}/{len(runs)} {run.name}: {', '.join(run_suites)} ...")
            outcome = run_gate(run, [files[s] for s in run_suites], f"{ref},{opt}", copy,
                               Path(scratch) / f"run-{index}", slot, list(pytest_args), None, timeout)
            outcome.suites = tuple(run_suites)
            _check_outcome(outcome, baselines)
            log(f"codeguard calibrate:   done in {outcome.wall_s:.0f} s (gate exit status {outcome.exit_status})")
            outcomes.append(outcome)
    provenance = {"date": utc_now(), "codeguard_version": __version__, "margin": margin,
                  "accepted": None, "machine": {"platform": platform.platform(), "python": sys.version.split()[0]},
                  "skipped": notes}
    calibrations = []
    for suite, (path, baseline) in baselines.items():
        suite_runs = [o for o in outcomes if suite in o.suites]
        if len(suite_runs) < 2:
            raise ConfigError(f"suite {suite!r}: {len(suite_runs)} calibration run(s); at least 2 are needed for a "
                              "spread (check --perturbations and --seeds)")
        values = {name: [o.metrics[suite][name] for o in suite_runs if name in o.metrics[suite]]
                  for name in baseline.metrics}
        tolerances = calibrate_baseline(baseline, {k: v for k, v in values.items() if len(v) == len(suite_runs)},
                                        margin)
        block = {**provenance, "accepted": dict(baseline.accepted), "runs": len(suite_runs),
                 "perturbations": [o.perturbation.to_dict() for o in suite_runs]}
        calibrated = apply_calibration(baseline, tolerances, block)
        if not dry_run:
            write_baseline(path, calibrated)
        calibrations.append(SuiteCalibration(suite, path, baseline, tolerances, calibrated,
                                             [o.perturbation.name for o in suite_runs]))
    return calibrations


def _check_outcome(outcome: RunOutcome, baselines: dict) -> None:
    """Refuses a run that failed to measure, measured something other than the accepted candidate, or NaN."""
    name = outcome.perturbation.name
    for suite in outcome.suites:
        path, baseline = baselines[suite]
        measured = outcome.metrics.get(suite)
        if outcome.exit_status not in (0, 1) or not measured:
            raise ConfigError(f"calibration run {name} ({dict(outcome.perturbation.env) or 'environment as-is'}) "
                              f"measured nothing for suite {suite!r} (pytest exit status {outcome.exit_status}); "
                              f"its output ends:\n{outcome.output[-1500:]}")
        ref_fingerprint, opt_fingerprint = outcome.fingerprints.get(suite, (None, None))
        if ref_fingerprint and ref_fingerprint != baseline.reference.get("fingerprint"):
            raise ConfigError(f"calibration run {name}: the reference loaded as {ref_fingerprint}, but {path} "
                              f"was recorded for {baseline.reference.get('fingerprint')}")
        check_accepted(baseline, path, baseline.accepted.get("spec"), opt_fingerprint)
        for metric in baseline.metrics:
            value = measured.get(metric)
            if not isinstance(value, (int, float)) or value != value or value in (float("inf"), float("-inf")):
                raise ConfigError(f"calibration run {name}: suite {suite!r} measured {metric} = {value!r}; a run "
                                  "that measures no finite value is broken, and no tolerance is derived from it")


def table(calibration: SuiteCalibration) -> str:
    """The proposed tolerances: metric, baseline value, spread (and SD), worst run, old tolerance and limit, new."""
    rows = [("metric", "baseline", "spread", "sd", "worst run", "old tolerance", "old limit", "new atol",
             "new limit", "")]
    for name, t in sorted(calibration.tolerances.items()):
        old = calibration.baseline.metrics[name]
        sign = "<= " if t.direction == "lower_is_better" else ">= "
        rows.append((name, fmt(t.value), fmt(t.spread), fmt(t.sd), fmt(t.worst),
                     f"rtol {old.rtol:g}, atol {old.atol:g}", sign + fmt(old.limit()), f"{t.atol:.3g}",
                     sign + fmt(t.limit), "floor" if t.floored else ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    head = (f"{calibration.suite}: {len(calibration.runs)} runs ({', '.join(calibration.runs)}), margin "
            f"{calibration.calibrated.calibration['margin']:g}; {calibration.path}")
    return "\n".join([head, *("  " + line for line in lines)])


__all__ = ["Perturbation", "RunOutcome", "SuiteCalibration", "calibrate", "plan_runs", "run_gate", "table",
           "cpu_flags", "suite_files", "check_accepted"]
