"""What opening llama.cpp's context at a GGUF file's trained length costs, against codeguard's default of 4,096.

    python bench/bench_gguf_context.py [--repeats 3] [--workdir DIR] [--json FILE]

llama.cpp allocates and clears the KV cache for every position of the context a model is opened with. codeguard opened
GGUF models at the context length their metadata gives (32,768 for Qwen2.5-Coder, 131,072 for Llama 3.1), while its
windows are 512 tokens and its generations a few hundred; it now opens them at 4,096 positions
(`$CODEGUARD_GGUF_CTX` for more; codeguard/models/gguf.py).

RANDOM WEIGHTS: the model is bench_llama_parity's 23 M-parameter Llama (12 layers, 4 KV heads of 64, StarCoder's
49,152-token vocabulary) with Llama 3.1's trained length, 131,072 positions, derived by codeguard to `@gguf-f16`.
Each run is a subprocess that loads it with `load_model` on the CPU and scores one 512-token window, the settings
interleaved --repeats times (medians): the default; `CODEGUARD_GGUF_CTX=32768` (Qwen2.5-Coder's trained length);
and `CODEGUARD_GGUF_CTX=131072`, the file's own trained length, which is what codeguard did before. Reported:
seconds to load, seconds for the window, peak RSS (VmHWM), the logits of the settings compared bit for bit, and the
error of a setting that cannot load (llama-cpp-python's `Llama(logits_all=True)` allocates an (n_ctx, vocabulary)
float32 array: 24 GiB at 131,072 x 49,152).

The KV caches of the real shapes (bench_scale's SHAPES, from their config.json files) are printed as arithmetic,
not measured: f16 K and V, 2 x layers x KV heads x head size x 2 bytes a position.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bench_llama_parity import LLAMA_23M
from bench_scale import GIB, SHAPES, build_model, vocab_path

TRAINED = 131072
SHAPE = replace(LLAMA_23M, name="llama-23m-131k", max_positions=TRAINED)
CHILD = r"""
import json, sys, time
started = time.perf_counter()
from codeguard import load_model
model = load_model(sys.argv[1], device="cpu")
loaded = time.perf_counter()
window = [model.start_ids()[0][0]] + [(7 * i) % 40000 + 100 for i in range(511)]
logits = next(model.sequence_logits([window]))
scored = time.perf_counter()
import numpy as np
np.save(sys.argv[2], logits)
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM")][0].split()[1]
print(json.dumps({"n_ctx": model.max_context, "load_seconds": loaded - started, "window_seconds": scored - loaded,
                  "peak_rss_gib": int(hwm) / 2**20}))
"""


def kv_bytes_per_position(shape) -> int:
    head = shape.hidden // shape.heads
    return 2 * shape.layers * shape.kv_heads * head * 2


def run(args) -> dict:
    from codeguard import load_model
    work = args.workdir
    source = work / "model"
    if not (source / "config.json").is_file():
        parameters = build_model(SHAPE, source, vocab_path(SHAPE, None), "cpu")
        print(f"built {parameters / 1e6:.1f} M parameters", flush=True)
    os.environ["CODEGUARD_CACHE"] = str(work / "codeguard-cache")
    gguf = load_model(f"{source}@gguf-f16", device="cpu").path
    here = str(Path(__file__).resolve().parents[1])
    base = {**os.environ, "CODEGUARD_GGUF_THREADS": "2", "PYTHONPATH": here}
    base.pop("CODEGUARD_GGUF_CTX", None)
    settings = {"default (4,096)": base, "32,768": {**base, "CODEGUARD_GGUF_CTX": "32768"},
                f"trained length ({TRAINED:,})": {**base, "CODEGUARD_GGUF_CTX": str(TRAINED)}}
    runs, errors = {name: [] for name in settings}, {}
    for repeat in range(args.repeats):
        for index, (name, env) in enumerate(settings.items()):
            if name in errors:
                continue
            done = subprocess.run([sys.executable, "-c", CHILD, str(gguf), str(work / f"logits-{index}.npy")],
                                  env=env, capture_output=True, text=True)
            if done.returncode:
                errors[name] = done.stderr.strip().splitlines()[-1]
                print(f"repeat {repeat + 1}: {name}: fails: {errors[name]}", flush=True)
                continue
            runs[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"repeat {repeat + 1}: {name}: {runs[name][-1]}", flush=True)
    import numpy as np
    loaded = [work / f"logits-{i}.npy" for i, name in enumerate(settings) if runs[name]]
    same = all(np.array_equal(np.load(loaded[0]), np.load(other)) for other in loaded[1:])
    median = {name: {key: statistics.median(r[key] for r in values) for key in values[0]}
              for name, values in runs.items() if values}
    arithmetic = {name: {"trained": s.max_positions,
                         "kv_gib_trained": kv_bytes_per_position(s) * s.max_positions / GIB,
                         "kv_gib_4096": kv_bytes_per_position(s) * min(4096, s.max_positions) / GIB}
                  for name, s in SHAPES.items() if name != "tiny"}
    arithmetic["llama-3.1-8b"] = {"trained": 131072, "kv_gib_trained": 2 * 32 * 8 * 128 * 2 * 131072 / GIB,
                                  "kv_gib_4096": 2 * 32 * 8 * 128 * 2 * 4096 / GIB}
    return {"bench": "bench_gguf_context", "random_weights": True, "date": time.strftime("%Y-%m-%d"),
            "machine": {"cpus": os.cpu_count(), "load_average_at_end": os.getloadavg()},
            "kv_gib_measured_model": kv_bytes_per_position(SHAPE) * TRAINED / GIB, "runs": runs, "median": median,
            "errors": errors, "same_logits": same, "kv_arithmetic": arithmetic}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None, help="model and derivation (kept when given)")
    parser.add_argument("--json", type=Path, default=None, help="also write the record here")
    args = parser.parse_args()
    args.workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="bench-gguf-context-"))).resolve()
    args.workdir.mkdir(parents=True, exist_ok=True)
    record = run(args)
    print(f"\n{'setting':<28}{'n_ctx':>8}{'load s':>9}{'window s':>10}{'peak RSS GiB':>14}")
    for name, values in record["median"].items():
        print(f"{name:<28}{values['n_ctx']:>8.0f}{values['load_seconds']:>9.2f}{values['window_seconds']:>10.2f}"
              f"{values['peak_rss_gib']:>14.2f}")
    for name, error in record["errors"].items():
        print(f"{name:<28}fails: {error}")
    print(f"logits of the window bit for bit the same (settings that load): {record['same_logits']}")
    print("\nKV cache (f16) of real shapes, arithmetic: trained length vs 4,096 positions")
    for name, kv in record["kv_arithmetic"].items():
        print(f"  {name:<22} {kv['trained']:>7,} positions {kv['kv_gib_trained']:7.2f} GiB   at 4,096 "
              f"{kv['kv_gib_4096']:5.2f} GiB")
    print("\nJSON " + json.dumps(record))
    if args.json:
        args.json.write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
