"""Prints the cold-start metrics of every zoo variant against zoo:tiny-code, with the committed gates' verdicts.

    python bench/calibrate_cold_start.py > table.md

This is how the default tolerances in codeguard/gate_metrics.py were chosen: the accepted candidate
(@onnx-int8) and other harmless ones must pass with room, @int4-rtn must fail. The table goes into
bench/RESULTS.md and the README.
"""
from __future__ import annotations

from pathlib import Path

from codeguard import load_model, run_cold_start
from codeguard.baseline import load_baseline
from codeguard.gate import check_probe_config, gate
from codeguard.probes.keyword_mass import run_keyword_mass

REPO = Path(__file__).resolve().parents[1]
CANDIDATES = ["zoo:tiny-code", "zoo:tiny-code@fp16", "zoo:tiny-code@bf16", "zoo:tiny-code@onnx",
              "zoo:tiny-code@onnx-int8", "zoo:tiny-code@dynamic-int8", "zoo:tiny-code@int4-rtn",
              "zoo:tiny-code-distilled", "zoo:tiny-code-python"]
COLUMNS = ["kl_ref_opt", "js_divergence", "total_variation", "entropy_delta", "top1_agree", "top1_flip_cost",
           "topk_overlap_10", "topk_overlap_50", "spearman_top100"]


def _outcome(suite: str, result) -> str:
    baseline = load_baseline(REPO / "baselines" / "zoo-tiny-code" / f"{suite}.json")
    check_probe_config(baseline, result.probe_config())
    verdict = gate(suite, result.gate_metrics(), baseline=baseline)
    return "pass" if verdict.passed else "FAIL: " + ", ".join(c.metric for c in verdict.failures)


def main() -> None:
    ref = load_model("zoo:tiny-code")
    print("| candidate | " + " | ".join(COLUMNS) + " | cold_start gate | keywords gate |")
    print("|---" * (len(COLUMNS) + 3) + "|")
    for spec in CANDIDATES:
        opt = load_model(spec)
        result = run_cold_start(ref, opt)
        cells = [f"{result.gate_metrics()[c]:.3g}" for c in COLUMNS]
        print(f"| `{spec}` | " + " | ".join(cells) + f" | {_outcome('cold_start', result)} | "
              f"{_outcome('keywords', run_keyword_mass(ref, opt))} |")


if __name__ == "__main__":
    main()
