"""Prints the cold-start metrics of every zoo variant against zoo:tiny-code, with the committed gate's verdict.

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

REPO = Path(__file__).resolve().parents[1]
CANDIDATES = ["zoo:tiny-code", "zoo:tiny-code@fp16", "zoo:tiny-code@bf16", "zoo:tiny-code@onnx",
              "zoo:tiny-code@onnx-int8", "zoo:tiny-code@dynamic-int8", "zoo:tiny-code@int4-rtn",
              "zoo:tiny-code-distilled", "zoo:tiny-code-python"]
COLUMNS = ["kl_ref_opt", "js_divergence", "total_variation", "entropy_delta", "top1_agree", "top1_flip_cost",
           "topk_overlap_10", "topk_overlap_50", "spearman_top100"]


def main() -> None:
    baseline = load_baseline(REPO / "baselines" / "zoo-tiny-code" / "cold_start.json")
    ref = load_model("zoo:tiny-code")
    print("| candidate | " + " | ".join(COLUMNS) + " | gate (committed baseline) |")
    print("|---" * (len(COLUMNS) + 2) + "|")
    for spec in CANDIDATES:
        result = run_cold_start(ref, load_model(spec))
        check_probe_config(baseline, result.probe_config())
        verdict = gate("cold_start", result.metrics, baseline=baseline)
        outcome = "pass" if verdict.passed else "FAIL: " + ", ".join(c.metric for c in verdict.failures)
        cells = [f"{result.metrics[c]:.3g}" for c in COLUMNS]
        print(f"| `{spec}` | " + " | ".join(cells) + f" | {outcome} |")


if __name__ == "__main__":
    main()
