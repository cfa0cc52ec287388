"""False alarms and detections of pass@k decision rules, from the per-seed samples `pass_at_k_seeds.py` collected.

    python bench/fidelity_pass_at_k.py bench/fidelity/pass_at_k_seeds.json [--baseline baselines/zoo-tiny-code-he/pass_at_k.json]

For every seed and candidate the rules see what the gate would see (ref and candidate sampled with that seed, at
the collected n and, from an n = 10 collection, also its first 5 samples), and the paired statistics come from
`codeguard.humaneval.estimator.compare_paired`, the gate's own code. Rules compared:
- `today`: the paired checks before this bench (the interval of Δpass@k must reach 0, McNemar p >= alpha) and the
  committed baseline's tolerances;
- `margin δ`: non-inferiority: fail only when the interval lies wholly below −δ (the drop is significantly larger
  than δ), with and without McNemar (a superiority test: significant *any* drop), baseline tolerances as today;
- `sequential`: n = 5 with margin δ; only when the interval straddles −δ, 5 more samples per problem and decide at
  n = 10 (the cost is the share of runs that extend).
Prints one row per rule: failures out of the seeds for each candidate (false alarms on the accepted one,
detections on the damaged ones) and the mean Δpass@1 and interval per candidate.
"""
from __future__ import annotations

import argparse
import json
import statistics

from codeguard.humaneval.estimator import compare_paired, mean_pass_at_k

ALPHA, CONFIDENCE, KS = 0.05, 0.95, (1, 5)


def counts(rows: dict[str, list[bool]], n: int) -> list[int]:
    return [sum(passed[:n]) for passed in rows.values()]


def paired(ref_rows, opt_rows, n: int, seed: int) -> dict:
    """The gate's statistics for one run: per k the comparison, plus opt's pass@k (what a baseline holds)."""
    tasks = list(ref_rows)
    ref, opt = counts(ref_rows, n), counts(opt_rows, n)
    stats = {}
    for k in KS:
        comparison = compare_paired(tasks, ref, opt, n, k, confidence=CONFIDENCE, alpha=ALPHA, seed=seed)
        stats[k] = {"ci_low": comparison.ci_low, "ci_high": comparison.ci_high, "delta": comparison.delta,
                    "mcnemar_p": comparison.mcnemar_p, "pass": mean_pass_at_k(opt, n, k)}
    return stats


def baseline_fails(stats: dict, baseline: dict) -> bool:
    for k in KS:
        for name, value in ((f"pass@{k}", stats[k]["pass"]), (f"delta_pass@{k}", stats[k]["delta"])):
            entry = baseline.get(name)
            if entry and value < entry["value"] - entry["atol"]:
                return True
    return False


def fails(stats: dict, baseline: dict, margin: float, mcnemar: bool) -> bool:
    if any(stats[k]["ci_high"] < -margin for k in KS):
        return True
    if mcnemar and stats[1]["mcnemar_p"] is not None and stats[1]["mcnemar_p"] < ALPHA:
        return True
    return baseline_fails(stats, baseline)


def uncertain(stats: dict, margin: float) -> bool:
    return any(stats[k]["ci_low"] < -margin <= stats[k]["ci_high"] for k in KS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("samples")
    parser.add_argument("--baseline", default="baselines/zoo-tiny-code-he/pass_at_k.json")
    parser.add_argument("--margins", default="0.01,0.02,0.03,0.05")
    args = parser.parse_args()
    data = json.load(open(args.samples))
    baseline = json.load(open(args.baseline))["metrics"]
    ref_spec = data["model"]
    candidates = sorted({spec for run in data["runs"].values() for spec in run if spec != ref_spec})
    seeds = sorted(int(seed) for seed, run in data["runs"].items() if ref_spec in run)
    stats = {n: {c: {s: paired(data["runs"][str(s)][ref_spec], data["runs"][str(s)][c], n, s)
                     for s in seeds if c in data["runs"][str(s)]} for c in candidates} for n in sorted({5, data["n"]})}

    print(f"{data['model']}, {data['problems']}, T {data['temperature']}, seeds {seeds[0]}-{seeds[-1]}")
    for n in stats:  # 5 and the collected n (the same when the collection is at n = 5)
        for c in candidates:
            runs = list(stats[n][c].values())
            if runs:
                print(f"n={n:2d} {c}: {len(runs)} seeds, Δpass@1 mean {statistics.mean(r[1]['delta'] for r in runs):+.4f} "
                      f"(min {min(r[1]['delta'] for r in runs):+.3f}, max {max(r[1]['delta'] for r in runs):+.3f}), "
                      f"interval high min {min(r[1]['ci_high'] for r in runs):+.3f}, max "
                      f"{max(r[1]['ci_high'] for r in runs):+.3f}; pass@1 min {min(r[1]['pass'] for r in runs):.3f}")
    header = "| rule | samples/problem | " + " | ".join(f"{c} fails" for c in candidates) + " | runs extended |"
    print("\n" + header + "\n|" + "---|" * (header.count("|") - 1))
    rules = [("today (interval reaches 0, McNemar)", 0.0, True)]
    for margin in (float(m) for m in args.margins.split(",")):
        rules += [(f"margin {margin:g}, McNemar", margin, True), (f"margin {margin:g}, no McNemar", margin, False)]
    for name, margin, mcnemar in rules:
        for n in stats:
            cells = []
            for c in candidates:
                verdicts = [fails(st, baseline, margin, mcnemar) for st in stats[n][c].values()]
                cells.append(f"{sum(verdicts)}/{len(verdicts)}")
            print(f"| {name} | {n} | " + " | ".join(cells) + " | - |")
        if margin and data["n"] > 5:
            cells, extended = [], []
            for c in candidates:
                verdicts = []
                for seed, first in stats[5][c].items():
                    more = uncertain(first, margin)
                    extended.append(more)
                    verdicts.append(fails(stats[data["n"]][c][seed] if more else first, baseline, margin, mcnemar))
                cells.append(f"{sum(verdicts)}/{len(verdicts)}")
            print(f"| {name}, sequential | 5 → {data['n']} when uncertain | " + " | ".join(cells)
                  + f" | {sum(extended)}/{len(extended)} |")


if __name__ == "__main__":
    main()
