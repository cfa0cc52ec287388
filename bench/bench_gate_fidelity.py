"""Gate fidelity: false alarms on the accepted candidate and detections of damaged ones, under the environment
changes `codeguard calibrate` makes, with the hand-set tolerances and with calibrated ones, in one run.

    python bench/bench_gate_fidelity.py [--suites cold_start,...] [--candidates @int4-rtn,...] [--seeds 20]
        [--perturbations LIST] [--damaged-perturbations LIST] [--out FILE.md]

Every run is a real gate run (`codeguard.calibrate.run_gate`: `pytest suites/test_<suite>.py --model-pair ...` in
a fresh process) against a copy of the committed baselines. The accepted candidate (`zoo:tiny-code@onnx-int8`)
runs under every perturbation (and, for worst_case, seeds 1..N-1); its runs give the spread, and the calibrated
tolerances are derived from them with the same rule as `codeguard calibrate` (margin 3). The damaged candidates
run under fewer perturbations (`--damaged-perturbations`; a model that is broken is broken on every thread
count). A run's verdict under the hand-set tolerances is the gate's own; under the calibrated ones it is the same
comparison (value against value·(1±rtol)±atol, every gated metric) redone on the run's measured values. (For
worst_case the search steers towards the hand-set limit; its reported maximum is what is compared.)

Per suite the table says: false alarms (accepted-candidate runs that fail) and, per damaged candidate, the runs
that fail, each with hand-set / calibrated tolerances; then each metric's spread next to both tolerances.
"""
from __future__ import annotations

import argparse
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from codeguard.calibrate import SAMPLING_SUITES, cpu_flags, plan_runs, run_gate  # noqa: E402
from codeguard.gating.baselines import MetricBaseline, load_baseline  # noqa: E402
from codeguard.gating.calibration import calibrate_baseline  # noqa: E402
from codeguard.gating.rules import LOWER  # noqa: E402

REF, ACCEPTED = "zoo:tiny-code", "zoo:tiny-code@onnx-int8"
DAMAGED = ("zoo:tiny-code@dynamic-int8", "zoo:tiny-code@int4-rtn", "zoo:tiny-code@int3-rtn",
           "zoo:tiny-code@gguf-q2_k")
SUITES = ("cold_start", "keyword_mass", "corpus_kld", "keyword_shift", "worst_case")


def _fails(baseline, metrics: dict[str, float], tolerances: dict | None = None) -> bool:
    """The gate's comparison on measured values (tolerances: metric -> atol with rtol 0, else the file's)."""
    for name, entry in baseline.metrics.items():
        if tolerances is not None:
            entry = MetricBaseline(entry.value, entry.direction, 0.0, tolerances[name].atol)
        value = metrics.get(name)
        if value is None or value != value:
            return True
        if (value > entry.limit()) if entry.direction == LOWER else (value < entry.limit()):
            return True
    return False


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--suites", default=",".join(SUITES))
    parser.add_argument("--candidates", default=",".join(DAMAGED), help="damaged candidates (full specs)")
    parser.add_argument("--seeds", type=int, default=20, help="worst_case: seeds 0..N-1 on the accepted candidate")
    parser.add_argument("--perturbations", default=None, help="accepted candidate's runs (default: all)")
    parser.add_argument("--damaged-perturbations", default="threads=1,kernels=avx2",
                        help="damaged candidates' runs besides as-is")
    parser.add_argument("--damaged-seeds", type=int, default=2, help="worst_case seeds for damaged candidates")
    parser.add_argument("--out", default=None, help="also write the Markdown here")
    args = parser.parse_args()
    suites = [s for s in args.suites.split(",") if s]
    files = [REPO / "suites" / f"test_{s}.py" for s in suites]
    flags = cpu_flags()
    accepted_runs, notes = plan_runs(args.seeds, flags, only=args.perturbations.split(",")
                                     + (["seed"] if args.seeds > 1 else []) if args.perturbations else None)
    damaged_runs, _ = plan_runs(args.damaged_seeds, flags, only=args.damaged_perturbations.split(",")
                                 + (["seed"] if args.damaged_seeds > 1 else []))
    baselines = {s: load_baseline(REPO / "baselines" / "zoo-tiny-code" / f"{s}.json") for s in suites}
    started = time.perf_counter()
    measured: dict[str, list] = {}
    with tempfile.TemporaryDirectory(prefix="codeguard-fidelity-") as scratch:
        copy = Path(scratch) / "baselines"
        shutil.copytree(REPO / "baselines", copy)
        for opt, runs in [(ACCEPTED, accepted_runs)] + [(c, damaged_runs) for c in args.candidates.split(",") if c]:
            for index, run in enumerate(runs):
                run_suites = [s for s in suites if not run.sampling_only or s in SAMPLING_SUITES]
                if not run_suites:
                    continue
                t0 = time.perf_counter()
                outcome = run_gate(run, [REPO / "suites" / f"test_{s}.py" for s in run_suites], f"{REF},{opt}",
                                   copy, Path(scratch) / f"{opt.split('@')[1]}-{index}", cwd=REPO)
                if outcome.exit_status not in (0, 1):
                    print(f"{opt} {run.name}: exit {outcome.exit_status}\n{outcome.output[-2000:]}", flush=True)
                    continue
                outcome.suites = tuple(run_suites)
                measured.setdefault(opt, []).append(outcome)
                print(f"{opt} {run.name}: {time.perf_counter() - t0:.0f} s; "
                      + ", ".join(f"{s} {'pass' if outcome.passed.get(s) else 'FAIL'}" for s in run_suites),
                      flush=True)
    elapsed = time.perf_counter() - started
    lines = [f"{time.strftime('%Y-%m-%d')}, {platform.node()} ({platform.machine()}, {len(files)} suites), "
             f"{elapsed / 60:.0f} min. Accepted candidate runs: {', '.join(r.name for r in accepted_runs)}. "
             f"Damaged candidates: {', '.join(r.name for r in damaged_runs)}"
             + "."
             + (" " + " ".join(notes) if notes else ""), ""]
    head = "| suite | false alarms, hand-set | false alarms, calibrated | " + " | ".join(
        f"`{c.split('@')[1]}` detected, hand-set / calibrated" for c in measured if c != ACCEPTED) + " |"
    lines += [head, "|" + "---|" * (head.count("|") - 1)]
    spreads = []
    for suite in suites:
        base = baselines[suite]
        accepted = [o for o in measured.get(ACCEPTED, []) if suite in o.suites and suite in o.metrics]
        runs = {name: [o.metrics[suite].get(name, float("nan")) for o in accepted] for name in base.metrics}
        tolerances = calibrate_baseline(base, runs) if len(accepted) >= 2 else None
        row = [suite, f"{sum(not o.passed.get(suite, False) for o in accepted)}/{len(accepted)}",
               f"{sum(_fails(base, o.metrics[suite], tolerances) for o in accepted)}/{len(accepted)}"
               if tolerances else "-"]
        for opt, outcomes in measured.items():
            if opt == ACCEPTED:
                continue
            mine = [o for o in outcomes if suite in o.suites and suite in o.metrics]
            hand = sum(not o.passed.get(suite, False) for o in mine)
            cal = sum(_fails(base, o.metrics[suite], tolerances) for o in mine) if tolerances else "-"
            row.append(f"{hand}/{len(mine)} / {cal}/{len(mine)}")
        lines.append("| " + " | ".join(row) + " |")
        for name, t in (tolerances or {}).items():
            old = base.metrics[name]
            spreads.append(f"| {suite} | {name} | {t.value:.6g} | {t.spread:.3g} | {t.sd:.3g} | "
                           f"{abs(old.limit() - old.value):.3g} | {t.atol:.3g}{' (floor)' if t.floored else ''} |")
    lines += ["", "Each metric's spread over the accepted candidate's runs (and the baseline's recorded value) next to "
              "the room its tolerance leaves above (below) the baseline value:", "",
              "| suite | metric | baseline | spread | SD | hand-set room | calibrated atol |", "|---|---|---|---|---|---|---|",
              *spreads]
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
