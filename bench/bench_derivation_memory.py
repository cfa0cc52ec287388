"""Measures each derivation's peak memory as a multiple of the source model's fp32 weight bytes.

    python bench/bench_derivation_memory.py [--sizes 512x4 768x8 1024x12] [--vocab 151936]
                                            [--derivations fp16 onnx-int8 ...] [--workdir DIR] [--threads 1]

For each size (hidden x layers) it builds a random-weight Qwen2-architecture model (hidden/64 query heads and 2
key-value heads of dimension 64, tied embeddings, vocabulary 151,936 like Qwen2.5-Coder) and saves it in fp32 with
`save_pretrained`; the tokenizer is the zoo's tiny-code one (GPT-2 byte-level BPE, which llama.cpp's converter takes;
its ids are a prefix of the larger vocabulary, which the converter pads). Then every derivation runs its builder (what
`derive()` runs on a cache miss) in a fresh interpreter, which reports its own peak RSS (getrusage RUSAGE_SELF) and
the largest peak among its own children (RUSAGE_CHILDREN: the GGUF derivations run llama.cpp's converter in a
subprocess). A baseline interpreter imports the same libraries (torch, transformers, optimum.onnxruntime, codeguard's
derivations) and does nothing else. Printed per derivation: seconds, peak RSS, peak minus baseline, and that
difference divided by the source's fp32 weight bytes (parameters x 4), and the same after taking off the precheck's
fixed OVERHEAD: the largest of those over the sizes, plus a margin, is the factor `codeguard.models.derive.memory`
uses to refuse a derivation that would not fit. For a GGUF derivation the peak is the parent's plus the converter's
(an upper bound: they do not peak at the same moment).

Torch and ONNX Runtime run with `--threads` threads (default 1: the measuring machine is shared); threads change
speed, not the memory of these builders.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from codeguard.models.derive.memory import OVERHEAD

DERIVATIONS = ["fp16", "bf16", "dynamic-int8", "int4-rtn", "onnx", "onnx-int8", "gguf-f16", "gguf-q8_0",
               "gguf-q4_k_m"]
GIB = 1024 ** 3


def build_source(directory: Path, hidden: int, layers: int, vocab: int) -> int:
    """Saves a random Qwen2-shaped model (fp32) with the zoo tokenizer into `directory`; returns its parameters."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen2Config

    from codeguard.models.zoo import zoo_path
    torch.manual_seed(0)
    heads = hidden // 64
    config = Qwen2Config(vocab_size=vocab, hidden_size=hidden, intermediate_size=int(hidden * 2.75) // 64 * 64,
                         num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=2,
                         max_position_embeddings=2048, tie_word_embeddings=True, torch_dtype="float32")
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.save_pretrained(directory, safe_serialization=True)
    AutoTokenizer.from_pretrained(zoo_path("tiny-code")).save_pretrained(directory)
    return sum(p.numel() for p in model.parameters())


def child(derivation: str | None, source: Path, out: Path) -> None:
    """One measurement in this fresh interpreter; prints a JSON line."""
    import optimum.onnxruntime  # noqa: F401 - the baseline holds every library a builder imports
    import torch
    import transformers  # noqa: F401

    from codeguard.models.derive.derivations import _builder
    threads = int(os.environ.get("BENCH_THREADS", "1"))
    torch.set_num_threads(threads)
    started = time.perf_counter()
    if derivation:
        out.mkdir(parents=True)
        _builder(derivation)(source, out, f"bench@{derivation}")
    seconds = time.perf_counter() - started
    # ru_maxrss is in KiB on Linux
    print(json.dumps({"self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                      "children": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
                      "seconds": seconds}))


def measure(derivation: str | None, source: Path, out: Path, threads: int) -> dict:
    env = {**os.environ, "BENCH_THREADS": str(threads), "OMP_NUM_THREADS": str(threads),
           "CODEGUARD_ORT_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "false"}
    command = [sys.executable, __file__, "--child", derivation or "", str(source), str(out)]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        return {"error": (done.stdout + done.stderr)[-800:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2] or None, Path(sys.argv[3]), Path(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["512x4", "768x8", "1024x12"], help="hidden x layers")
    parser.add_argument("--vocab", type=int, default=151936)
    parser.add_argument("--derivations", nargs="+", default=DERIVATIONS)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-derive-mem-"))
    baseline = measure(None, workdir, workdir / "unused", args.threads)
    print(f"baseline (interpreter + torch, transformers, optimum.onnxruntime, codeguard): "
          f"{baseline['self'] / GIB:.2f} GiB", flush=True)
    for size in args.sizes:
        hidden, layers = (int(x) for x in size.split("x"))
        source = workdir / f"qwen2-{size}"
        shutil.rmtree(source, ignore_errors=True)
        started = time.perf_counter()
        parameters = build_source(source, hidden, layers, args.vocab)
        weights = parameters * 4
        print(f"\nsource {size}: hidden {hidden}, {layers} layers, vocabulary {args.vocab}: {parameters / 1e6:.1f} M "
              f"parameters, {weights / GIB:.2f} GiB fp32 (built in {time.perf_counter() - started:.0f} s)", flush=True)
        print(f"{'derivation':<14}{'seconds':>9}{'peak GiB':>10}{'- base GiB':>12}{'/ fp32':>8}{'- overhead':>12}",
              flush=True)
        for derivation in args.derivations:
            out = workdir / f"out-{size}-{derivation}"
            shutil.rmtree(out, ignore_errors=True)
            result = measure(derivation, source, out, args.threads)
            shutil.rmtree(out, ignore_errors=True)
            if "error" in result:
                print(f"{derivation:<14} failed: {result['error']}", flush=True)
                continue
            peak = result["self"] + (result["children"] if derivation.startswith("gguf-") else 0)
            extra = peak - baseline["self"]
            print(f"{derivation:<14}{result['seconds']:>9.1f}{peak / GIB:>10.2f}{extra / GIB:>12.2f}"
                  f"{extra / weights:>8.2f}{(extra - OVERHEAD) / weights:>12.2f}", flush=True)
        shutil.rmtree(source, ignore_errors=True)
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
