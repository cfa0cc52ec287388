"""Times the default cold-start gate on the embedded pair, side by side with an anchor, in one run.

    python bench/bench_cold_start.py [--repeats 3]

Anchor: a bare Python process that imports torch/transformers/optimum, loads both models and runs one forward
pass each (what any tool must pay). Gate: `pytest suites --model-pair zoo:tiny-code,zoo:tiny-code@onnx-int8`.
The derivation cache is warmed first (its fresh-cache cost is printed separately). The goal is a gate under
30 s on 2 cores with a warm cache; the ratio gate/anchor is the overhead codeguard adds.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAIR = "zoo:tiny-code,zoo:tiny-code@onnx-int8"
ANCHOR = """
from codeguard.models import load_model
ref, opt = load_model('zoo:tiny-code'), load_model('zoo:tiny-code@onnx-int8')
ref.next_token_logprobs([[0]]); opt.next_token_logprobs([[0]])
"""


def timed(command: list[str], env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    env = {**os.environ, "CODEGUARD_CACHE": tempfile.mkdtemp(prefix="codeguard-bench-")}
    gate = [sys.executable, "-m", "pytest", "suites", "--model-pair", PAIR, "-q", "-p", "no:cacheprovider"]
    anchor = [sys.executable, "-c", ANCHOR]
    fresh = timed(gate, env)
    gate_times, anchor_times = [], []
    for _ in range(args.repeats):  # interleaved, so machine noise hits both alike
        anchor_times.append(timed(anchor, env))
        gate_times.append(timed(gate, env))
    g, a = statistics.median(gate_times), statistics.median(anchor_times)
    print(f"fresh cache (derivation built): gate {fresh:.1f} s")
    print(f"warm cache, median of {args.repeats}: gate {g:.1f} s, anchor (load both + 1 forward) {a:.1f} s, "
          f"ratio gate/anchor {g / a:.2f}")
    print(f"| {time.strftime('%Y-%m-%d')} | {os.cpu_count()} cores | {fresh:.1f} s | {g:.1f} s | {a:.1f} s | "
          f"{g / a:.2f} |")


if __name__ == "__main__":
    main()
