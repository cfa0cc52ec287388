"""Prints the metrics of every zoo variant against zoo:tiny-code, with every committed gate's verdict.

    python bench/calibrate_cold_start.py > table.md

This is how the default tolerances in codeguard/gating/rules.py were chosen: the accepted candidate
(@onnx-int8) and other harmless ones must pass with room, @int4-rtn must fail. The table goes into
bench/RESULTS.md and the README.
"""
from __future__ import annotations

from pathlib import Path

from codeguard import load_model, run_cold_start
from codeguard.gating.baselines import load_baseline
from codeguard.gating.gate import check_probe_config, gate
from codeguard.probes.corpus.runner import run_corpus_probes
from codeguard.probes.keyword_mass import run_keyword_mass

REPO = Path(__file__).resolve().parents[1]
SHOWN = 5  # failing metrics named per cell
CANDIDATES = ["zoo:tiny-code", "zoo:tiny-code@fp16", "zoo:tiny-code@bf16", "zoo:tiny-code@onnx",
              "zoo:tiny-code@onnx-int8", "zoo:tiny-code@dynamic-int8", "zoo:tiny-code@int4-rtn",
              "zoo:tiny-code-distilled", "zoo:tiny-code-python"]
COLUMNS = ["kl_ref_opt", "js_divergence", "total_variation", "entropy_delta", "top1_agree", "top1_flip_cost",
           "topk_overlap_10", "topk_overlap_50", "spearman_top100"]


def _outcome(suite: str, result) -> str:
    baseline = load_baseline(REPO / "baselines" / "zoo-tiny-code" / f"{suite}.json")
    check_probe_config(baseline, result.probe_config())
    verdict = gate(suite, result.gate_metrics(), baseline=baseline)
    if verdict.passed:
        return "pass"
    names = [c.metric for c in verdict.failures]
    return "FAIL: " + ", ".join(names[:SHOWN]) + (f" (+{len(names) - SHOWN} more)" if len(names) > SHOWN else "")


def main() -> None:
    ref = load_model("zoo:tiny-code")
    print("| candidate | " + " | ".join(COLUMNS) + " | corpus KLD mean | cold_start gate | keyword_mass gate | "
          "corpus_kld gate | keyword_shift gate |")
    print("|---" * (len(COLUMNS) + 6) + "|")
    for spec in CANDIDATES:
        opt = load_model(spec)
        result = run_cold_start(ref, opt)
        cells = [f"{result.gate_metrics()[c]:.3g}" for c in COLUMNS]
        corpus = run_corpus_probes(ref, opt)
        print(f"| `{spec}` | " + " | ".join(cells) + f" | {corpus['corpus-kld'].metrics['kld_mean']:.3g} | "
              f"{_outcome('cold_start', result)} | {_outcome('keyword_mass', run_keyword_mass(ref, opt))} | "
              f"{_outcome('corpus_kld', corpus['corpus-kld'])} | {_outcome('keyword_shift', corpus['keyword-shift'])} |")


if __name__ == "__main__":
    main()
