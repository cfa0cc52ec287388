"""A re-gate with a cached reference against the uncached gate, side by side in one run.

    python bench/bench_reference_cache.py [--repeats 2] [--ref zoo:tiny-code] [--opt zoo:tiny-code@onnx-int8]
                                          [--mode top-k] [--mass 0.999] [--top-k 64] [--tail-samples S]
                                          [--corpus DIR]
    python bench/bench_reference_cache.py --shape 1.5b --device cuda --mode exact --max-tokens 16384 \
                                          --vocab-dir DIR      # a real shape (bench_scale's), e.g. on a GPU

With --shape, REF is a random-weight model of one of bench_scale.py's shapes with its real tokenizer (bfloat16 on a
GPU, float32 on the CPU), OPT its `@fp16` (GPU) or `@bf16` (CPU), and the corpus the shipped one's first whole files
up to --max-tokens tokens, languages in turn (bench_scale's cap); the models load where codeguard's `auto` puts them.

Each run is a fresh process doing what a gate job does for the four distribution suites (cold start, keyword mass,
corpus KLD + keyword shift in one pass): the uncached one loads REF and OPT, the cached one loads OPT and the
reference cache built once beforehand (in a process of its own, timed apart: the nightly job). Wall time is the
whole process (start-up and model loading included, as in CI); peak memory is each process's own maximum RSS
(os.wait4). Runs alternate, so machine noise hits both alike; medians are reported.

Prints: the two wall times and peak RSS and their ratios (goals: re-gate >= 1.8x faster, <= 0.6x the memory);
every gate metric's relative error of the cached run against the uncached (exact) one, and which metrics the result
flags as approximate (goal: each within 1 %, or flagged); the cache's size against llama.cpp's
`--kl-divergence-base` layout, positions x vocabulary x 2 bytes (goal: <= 5 %).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def child(args) -> None:
    """One gate's probe work in this process; writes gate metrics and flagged metrics as JSON."""
    from codeguard import load_model
    from codeguard.languages.corpus import load_corpus
    from codeguard.languages.registry import load_registry
    from codeguard.probes.cold_start import run_cold_start
    from codeguard.probes.corpus.runner import run_corpus_probes
    from codeguard.probes.corpus.teacher_forced import TeacherForcedConfig
    from codeguard.probes.keyword_mass import run_keyword_mass
    registry = load_registry()
    corpus = load_corpus(args.corpus, registry)
    config = TeacherForcedConfig(corpus=args.corpus)
    opt = load_model(args.opt, alone=args.child == "cached")  # as the plugin loads OPT beside a cache
    if args.child == "cached":
        from codeguard.probes.reference_cache.replay import load_reference_cache
        cache = load_reference_cache(args.cache)
        results = [cache.cold_start(opt, registry=registry), cache.keyword_mass(opt, registry=registry),
                   *cache.corpus_probes(opt, config, corpus, registry).values()]
    else:
        ref = load_model(args.ref)
        results = [run_cold_start(ref, opt), run_keyword_mass(ref, opt, registry=registry),
                   *run_corpus_probes(ref, opt, config, corpus, registry).values()]
    out = {r.probe: {"metrics": r.gate_metrics(), "approximate": r.approximate_metrics()} for r in results}
    import torch
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        out["peak_gpu_gib"] = torch.cuda.max_memory_allocated() / 2**30
    Path(args.result).write_text(json.dumps(out))


def build(args, cache: Path) -> None:
    from codeguard import load_model
    from codeguard.probes.corpus.teacher_forced import TeacherForcedConfig
    from codeguard.probes.reference_cache.build import build_reference_cache
    build_reference_cache(load_model(args.ref), cache, TeacherForcedConfig(corpus=args.corpus), mode=args.mode,
                          mass=args.mass, k=args.top_k, tail_samples=args.tail_samples or None)


def build_shape(args, work: Path) -> tuple[str, str]:
    """A random-weight model of bench_scale's shape `args.shape` and the capped corpus as a folder: (ref, corpus)."""
    from transformers import AutoTokenizer

    from bench_scale import SHAPES, build_model, capped_corpus, vocab_path
    shape = SHAPES[args.shape]
    model = work / "model"
    build_model(shape, model, vocab_path(shape, args.vocab_dir), args.device)
    corpus = capped_corpus(AutoTokenizer.from_pretrained(model), args.max_tokens)
    folder = work / "corpus"
    for f in corpus.files:
        target = folder / f.path.relative_to(corpus.root)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(f.path.read_bytes())
    return str(model), str(folder)


def measured(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MiB) of one child process."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, *argv])
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"child {argv} failed with exit status {process.returncode}")
    return wall, usage.ru_maxrss / 1024  # Linux: KiB


def relative_errors(exact: dict, cached: dict) -> list[tuple[str, str, float, float, float, bool]]:
    rows = []
    for probe, data in exact.items():
        flagged = set(cached[probe]["approximate"])
        for name, value in data["metrics"].items():
            got = cached[probe]["metrics"][name]
            error = 0.0 if got == value else abs(got - value) / max(abs(value), 1e-300)
            rows.append((probe, name, value, got, error, name in flagged))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--ref", default="zoo:tiny-code")
    parser.add_argument("--opt", default=None, help="default: zoo:tiny-code@onnx-int8, or with --shape the "
                        "shape's @fp16 (GPU) / @bf16 (CPU)")
    parser.add_argument("--shape", default=None, help="build REF as this bench_scale.py shape (random weights)")
    parser.add_argument("--device", default="cpu", help="with --shape: where the weights are drawn (cpu, cuda)")
    parser.add_argument("--max-tokens", type=int, default=16384, help="with --shape: corpus cap, whole files")
    parser.add_argument("--vocab-dir", type=Path, default=None, help="with --shape: llama.cpp's ggml-vocab-*.gguf")
    parser.add_argument("--mode", default="top-k", choices=("auto", "exact", "top-k"))
    parser.add_argument("--mass", type=float, default=0.999)
    parser.add_argument("--top-k", type=int, default=64)
    parser.add_argument("--tail-samples", type=int, default=0, help="top-k: tokens drawn per position from the "
                        "rest (default 0: codeguard's, one per 256 vocabulary entries, at least 32)")
    parser.add_argument("--corpus", default=None, help="default: the shipped corpus")
    parser.add_argument("--child", choices=("live", "cached", "build"), help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "build":
        return build(args, Path(args.cache))
    if args.child:
        return child(args)

    work = Path(tempfile.mkdtemp(prefix="bench-reference-cache-"))
    cache = work / "cache"
    if args.shape:
        os.environ["CODEGUARD_CACHE"] = str(work / "codeguard-cache")  # the derivation goes with the work folder
        args.ref, args.corpus = build_shape(args, work)
        args.opt = args.opt or f"{args.ref}@{'fp16' if args.device.startswith('cuda') else 'bf16'}"
    args.opt = args.opt or "zoo:tiny-code@onnx-int8"
    common = [__file__, "--ref", args.ref, "--opt", args.opt, "--cache", str(cache)] + (
        ["--corpus", args.corpus] if args.corpus else [])
    # warm-up: derivations (e.g. @onnx-int8) are built once into $CODEGUARD_CACHE, outside the measurement
    subprocess.run([sys.executable, "-c", f"from codeguard import load_model; load_model({args.opt!r})"], check=True)
    # The build runs in a process of its own too: a child forked from a parent that held REF would count the
    # parent's resident pages in its own peak RSS (the first version of this bench built in-process).
    build_s, build_rss = measured(common + ["--mode", args.mode, "--mass", str(args.mass), "--top-k",
                                            str(args.top_k), "--tail-samples", str(args.tail_samples),
                                            "--child", "build"])
    wall = {"live": [], "cached": []}
    rss = {"live": [], "cached": []}
    for repeat in range(args.repeats):
        for kind in ("live", "cached") if repeat % 2 == 0 else ("cached", "live"):
            w, r = measured(common + ["--child", kind, "--result", str(work / f"{kind}.json")])
            wall[kind].append(w)
            rss[kind].append(r)
    exact = json.loads((work / "live.json").read_text())
    cached = json.loads((work / "cached.json").read_text())
    gpu = {kind: data.pop("peak_gpu_gib", None) for kind, data in (("live", exact), ("cached", cached))}
    manifest = json.loads((cache / "manifest.json").read_text())
    size = sum(f["bytes"] for f in manifest["files"].values()) + (cache / "manifest.json").stat().st_size
    llama = manifest["positions"] * manifest["reference"]["output_width"] * 2

    live_wall, cached_wall = statistics.median(wall["live"]), statistics.median(wall["cached"])
    live_rss, cached_rss = max(rss["live"]), max(rss["cached"])
    print(f"pair {args.ref} -> {args.opt}, corpus {args.corpus or 'shipped'}, {manifest['positions']} positions, "
          f"vocabulary {manifest['reference']['output_width']}, cache mode {manifest['mode']} {manifest['top_k']}, "
          f"{args.repeats} runs each")
    print(f"cache build (nightly job, its own process): {build_s:.1f} s, peak RSS {build_rss:.0f} MiB; mean top set "
          f"{manifest['probes']['corpus'].get('mean_top_set', 'all')} tokens")
    print(f"uncached gate:  wall {live_wall:6.1f} s (runs {', '.join(f'{w:.1f}' for w in wall['live'])}), "
          f"peak RSS {live_rss:7.0f} MiB")
    print(f"cached re-gate: wall {cached_wall:6.1f} s (runs {', '.join(f'{w:.1f}' for w in wall['cached'])}), "
          f"peak RSS {cached_rss:7.0f} MiB")
    print(f"speed-up {live_wall / cached_wall:.2f}x (goal >= 1.8), memory {cached_rss / live_rss:.2f}x (goal <= 0.6)")
    if gpu["live"] is not None:
        print(f"peak GPU memory (last run of each): uncached {gpu['live']:.2f} GiB, cached {gpu['cached']:.2f} GiB: "
              f"{gpu['cached'] / gpu['live']:.2f}x")
    print(f"cache size {size / 2**20:.2f} MiB, llama.cpp layout {llama / 2**20:.1f} MiB: {100 * size / llama:.2f} % "
          "(goal <= 5 %)")
    rows = relative_errors(exact, cached)
    bad = [r for r in rows if r[4] > 0.01 and not r[5]]
    print(f"metrics: {len(rows)}, exact (identical): {sum(r[4] == 0 for r in rows)}, within 1 %: "
          f"{sum(r[4] <= 0.01 for r in rows)}, flagged approximate: {sum(r[5] for r in rows)}, "
          f"over 1 % and not flagged: {len(bad)}")
    print(f"{'probe':14} {'metric':22} {'exact':>12} {'cached':>12} {'rel. error':>10}  flagged")
    for probe, name, value, got, error, flagged in rows:
        if error > 0 or flagged:
            print(f"{probe:14} {name:22} {value:12.6g} {got:12.6g} {100 * error:9.3f}%  {'yes' if flagged else 'NO'}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
