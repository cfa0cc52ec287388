"""The worst-case search under many seeds, every evaluated prefix kept: which statistic of the search separates the
accepted candidate from damaged ones without flapping.

    python bench/worst_case_seeds.py collect --candidates zoo:tiny-code@onnx-int8,zoo:tiny-code@int4-rtn --seeds 20
    python bench/worst_case_seeds.py analyse

`collect` runs `run_worst_case` without a limit (the whole search, no shrinking, no example database) for each
candidate and seed, and stores every evaluated prefix's KL in bench/fidelity/worst_case_seeds.json (merged with what
is there). `analyse` scores statistics of those values offline: for each, a limit calibrated the way
`codeguard calibrate` does (worst of the accepted candidate's first `--calibration-seeds` seeds + margin x spread),
then false alarms on the accepted candidate's other seeds and detections on every other candidate's seeds.
`analyse --baseline baselines/zoo-tiny-code/worst_case.json` scores the gate's own two statistics (the search
maximum and the tail mean: `max`, `cvar5` here) against that baseline's limits instead, over every seed.

Offline scoring is the gate's verdict: a search with a limit follows the same path as one without until its first
prefix beyond the limit, so "max > limit" here is exactly "the gate found a counterexample".
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

STORE = Path(__file__).parent / "fidelity" / "worst_case_seeds.json"


def collect(args) -> None:
    from codeguard import load_model
    from codeguard.probes import worst_case
    from codeguard.probes.worst_case import WorstCaseConfig, run_worst_case

    store = json.loads(STORE.read_text()) if STORE.exists() else {"runs": {}}
    store["about"] = (f"{args.ref} vs each candidate, WorstCaseConfig(max_examples={args.max_examples}) defaults, "
                      f"no limit, no database; per run every evaluated prefix's KL(ref||opt)")
    evaluators = []
    original_init = worst_case.PrefixEvaluator.__init__

    def keeping(self, *a, **k):
        original_init(self, *a, **k)
        evaluators.append(self)

    worst_case.PrefixEvaluator.__init__ = keeping
    ref = load_model(args.ref)
    for spec in args.candidates.split(","):
        opt = load_model(spec)
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            started = time.perf_counter()
            result = run_worst_case(ref, opt, WorstCaseConfig(seed=seed, max_examples=args.max_examples))
            records = list(evaluators[-1].cache.values())
            store["runs"].setdefault(spec, {})[str(seed)] = sorted((round(r["kl"], 8) for r in records),
                                                                   reverse=True)
            print(f"{spec} seed {seed}: {len(records)} prefixes, max {result.metrics['max_prefix_kl']:.4f}, "
                  f"{time.perf_counter() - started:.0f} s", flush=True)
            STORE.write_text(json.dumps(store, indent=0) + "\n")
        del opt


def statistics(values: np.ndarray) -> dict[str, float]:
    """Candidate gate statistics of one search: its maximum and steadier summaries of its upper tail."""
    ordered = np.sort(values)[::-1]
    tail5 = ordered[:max(1, int(np.ceil(0.05 * len(ordered))))]
    return {"max": ordered[0], "top10_mean": ordered[:10].mean(), "cvar5": tail5.mean(),
            "p99": np.quantile(values, 0.99), "p95": np.quantile(values, 0.95), "p90": np.quantile(values, 0.90),
            "mean": values.mean()}


GATED = {"max": "max_prefix_kl", "cvar5": "tail_prefix_kl"}  # the statistics the gate reads, by metric name


def baseline_limits(path: Path) -> dict[str, float]:
    metrics = json.loads(path.read_text())["metrics"]
    return {name: entry["value"] * (1 + entry["rtol"]) + entry["atol"] for name, entry in metrics.items()}


def analyse(args) -> None:
    store = json.loads(STORE.read_text())
    runs = store["runs"]
    accepted = args.accepted
    table = {spec: {seed: statistics(np.asarray(v)) for seed, v in by_seed.items()} for spec, by_seed in runs.items()}
    if args.baseline:
        return analyse_against(table, accepted, baseline_limits(args.baseline), args.baseline)
    names = list(next(iter(next(iter(table.values())).values())))
    print(f"# worst_case_seeds analyse {time.strftime('%Y-%m-%d')} ({platform.machine()}, {os.cpu_count()} cores)")
    print(f"limit = worst of {accepted}'s seeds < {args.calibration_seeds} + {args.margin} x their spread; "
          f"false alarms over its other seeds, detections over every seed of the others\n")
    others = [spec for spec in table if spec != accepted]
    print("| statistic | " + f"{accepted} (min-max over seeds) | " + " | ".join(
        f"{spec} (min-max)" for spec in others) + " | limit | false alarms | " +
        " | ".join(f"{spec} detected" for spec in others) + " |")
    print("|---" * (3 + 2 * len(others)) + "|---|")
    for name in names:
        accepted_values = {int(s): row[name] for s, row in table[accepted].items()}
        calibration = [v for s, v in accepted_values.items() if s < args.calibration_seeds]
        held_out = [v for s, v in accepted_values.items() if s >= args.calibration_seeds]
        limit = max(calibration) + args.margin * (max(calibration) - min(calibration))
        cells = [f"{min(accepted_values.values()):.4f}-{max(accepted_values.values()):.4f}"]
        detections = []
        for spec in others:
            values = [row[name] for row in table[spec].values()]
            cells.append(f"{min(values):.4f}-{max(values):.4f}")
            detections.append(f"{sum(v > limit for v in values)}/{len(values)}")
        print(f"| {name} | " + " | ".join(cells) + f" | {limit:.4f} | {sum(v > limit for v in held_out)}/"
              f"{len(held_out)} | " + " | ".join(detections) + " |")


def analyse_against(table: dict, accepted: str, limits: dict[str, float], path: Path) -> None:
    """False alarms and detections of the gate's two checks, and of the gate (either check), at `path`'s limits."""
    print(f"# worst_case_seeds analyse --baseline {path} {time.strftime('%Y-%m-%d')}")
    print("limits: " + ", ".join(f"{name} <= {limits[name]:.4f}" for name in GATED.values()) + "\n")
    print("| candidate | seeds | max_prefix_kl (min-max) | beyond | tail_prefix_kl (min-max) | beyond | gate fails |")
    print("|---|---|---|---|---|---|---|")
    for spec, by_seed in table.items():
        cells, fails = [], set()
        for statistic, metric in GATED.items():
            values = {seed: row[statistic] for seed, row in by_seed.items()}
            beyond = {seed for seed, v in values.items() if v > limits[metric]}
            fails |= beyond
            cells += [f"{min(values.values()):.4f}-{max(values.values()):.4f}", f"{len(beyond)}/{len(values)}"]
        label = f"{spec} (accepted)" if spec == accepted else spec
        print(f"| {label} | {len(by_seed)} | " + " | ".join(cells) + f" | {len(fails)}/{len(by_seed)} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--ref", default="zoo:tiny-code")
    c.add_argument("--candidates", default="zoo:tiny-code@onnx-int8,zoo:tiny-code@int4-rtn")
    c.add_argument("--seeds", type=int, default=20)
    c.add_argument("--first-seed", type=int, default=0)
    c.add_argument("--max-examples", type=int, default=60)
    a = sub.add_parser("analyse")
    a.add_argument("--accepted", default="zoo:tiny-code@onnx-int8")
    a.add_argument("--calibration-seeds", type=int, default=4)
    a.add_argument("--margin", type=float, default=3.0)
    a.add_argument("--baseline", type=Path, default=None, help="score the gate's checks at this baseline's limits")
    args = parser.parse_args()
    collect(args) if args.command == "collect" else analyse(args)


if __name__ == "__main__":
    main()
