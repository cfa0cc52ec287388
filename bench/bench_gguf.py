"""Times GGUF scoring through llama.cpp against the PyTorch backend on the same model, side by side in one run.

    python bench/bench_gguf.py [--repeats 5] [--gguf zoo:tiny-code@gguf-f16 ...] [--ctx 256] [--threads N]

Both models score exactly the corpus probes' windows of the shipped corpus (ctx 256, the zoo's maximum context)
with `sequence_logits`: float32 logits at every position, finite-checked, which is what the corpus probes consume.
Each repeat runs every model once, in a rotating order, so machine noise hits all alike; medians are reported, with
the ratio GGUF / PyTorch (above 1: llama.cpp is slower), scored tokens per second, and the same in process CPU time (all
threads), which other load on a shared machine disturbs far less than wall time. Both engines get the same threads.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from codeguard import load_model
from codeguard.languages.corpus import load_corpus
from codeguard.models.gguf import GGUFCausalLM
from codeguard.probes.corpus.teacher_forced import encode_corpus, make_windows


def score(model, windows: list[list[int]]) -> tuple[float, float]:
    """Wall and process-CPU seconds of one pass of `sequence_logits` over every window."""
    started, started_cpu = time.perf_counter(), time.process_time()
    for _ in model.sequence_logits(windows):
        pass
    return time.perf_counter() - started, time.process_time() - started_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ref", default="zoo:tiny-code")
    parser.add_argument("--gguf", nargs="+", default=["zoo:tiny-code@gguf-f16"])
    parser.add_argument("--ctx", type=int, default=256)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ["CODEGUARD_GGUF_THREADS"] = str(args.threads)
    models = {args.ref: load_model(args.ref)}
    for spec in args.gguf:
        models[spec] = load_model(spec)
        assert isinstance(models[spec], GGUFCausalLM), f"{spec} is not a GGUF model"
    ref = models[args.ref]
    windows = [w.ids for w in make_windows(encode_corpus(ref.fast_tokenizer, load_corpus()), ref.start_ids()[0],
                                           args.ctx)]
    positions = sum(len(w) for w in windows)
    for model in models.values():  # warm-up: first-call allocations, page faults
        score(model, windows[:2])
    wall = {spec: [] for spec in models}
    cpu = {spec: [] for spec in models}
    specs = list(models)
    for repeat in range(args.repeats):
        for spec in specs[repeat % len(specs):] + specs[:repeat % len(specs)]:
            w, c = score(models[spec], windows)
            wall[spec].append(w)
            cpu[spec].append(c)
    load = os.getloadavg()
    print(f"{len(windows)} windows of ctx {args.ctx}, {positions} positions scored per pass; {args.threads} threads "
          f"each; load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    t, tc = statistics.median(wall[args.ref]), statistics.median(cpu[args.ref])
    for spec, model in models.items():
        w, c = statistics.median(wall[spec]), statistics.median(cpu[spec])
        kind = model.details.get("gguf_type", "fp32") if spec != args.ref else "fp32"
        print(f"{spec:28} [{model.backend}, {kind}] median of {args.repeats}: wall {w:.2f} s "
              f"({positions / w:.0f} positions/s), ratio to {args.ref} {w / t:.2f}; CPU {c:.2f} s, ratio {c / tc:.2f}; "
              "all wall " + " ".join(f"{x:.2f}" for x in wall[spec]))


if __name__ == "__main__":
    main()
