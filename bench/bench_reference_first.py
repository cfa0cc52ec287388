"""Peak memory of the corpus probes with both models resident against --codeguard-reference-first, side by side.

    python bench/bench_reference_first.py --ref DIR [--opt DIR@bf16] [--max-tokens 2048] [--repeats 1]
    python bench/bench_reference_first.py --ref zoo:tiny-code --opt zoo:tiny-code@int4-rtn   # seconds

Each run is a fresh process (so one run's memory does not carry into the next) doing the corpus probes' work (corpus
KLD + keyword shift in one pass) on the same pair and corpus:
  - both: load REF and OPT, `run_corpus_probes` (what a gate does by default);
  - first: `score_reference_first` (REF loads alone, its exact cache is written, REF is freed), then OPT loads and
    the probes read REF's side from the cache (what `--codeguard-reference-first` does).
Reported per run: wall seconds, the process's peak RSS (`os.wait4`), the cache's size on disk, and whether the two
runs' gate metrics are identical (they must be: the cache is exact). Runs alternate; medians are reported. With
random-weight stand-ins (bench/bench_scale.py builds them) the figures are about memory and time, not quality.
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

GIB = 1024 ** 3


def capped_corpus(max_tokens: int, out: Path) -> str:
    """The shipped corpus cut to whole files, languages taken in turn, up to about `max_tokens` tokens."""
    from codeguard.languages.corpus import load_corpus
    corpus = load_corpus()
    by_language: dict[str, list] = {}
    for f in corpus.files:
        by_language.setdefault(f.language, []).append(f)
    total, queues = 0, list(by_language.values())
    while total < max_tokens and any(queues):
        for queue in queues:
            if queue and total < max_tokens:
                f = queue.pop(0)
                target = out / f.path.relative_to(corpus.root)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(f.text, encoding="utf-8")
                total += len(f.text) // 4  # ~4 characters a token: a cap, not a count
    return str(out)


def child(args) -> None:
    """One run's probe work in this process; writes the gate metrics as JSON."""
    import torch
    from codeguard import load_model
    from codeguard.languages.corpus import load_corpus
    from codeguard.probes.corpus.runner import run_corpus_probes
    from codeguard.probes.corpus.teacher_forced import TeacherForcedConfig
    from codeguard.probes.reference_cache.first import score_reference_first
    torch.set_num_threads(args.threads)
    corpus = load_corpus(args.corpus)
    config = TeacherForcedConfig(ctx=args.ctx, corpus=args.corpus)
    if args.child == "both":
        ref, opt = load_model(args.ref), load_model(args.opt)
        results = run_corpus_probes(ref, opt, config, corpus)
        size = 0
    else:
        cache = score_reference_first(lambda: load_model(args.ref), args.cache, corpus_config=config,
                                      corpus=corpus)
        opt = load_model(args.opt, alone=True)  # as the plugin loads OPT beside a cache
        results = cache.corpus_probes(opt, config, corpus, None, ("corpus-kld", "keyword-shift"))
        size = sum(f.stat().st_size for f in Path(args.cache).iterdir())
    metrics = {name: result.gate_metrics() for name, result in results.items()}
    Path(args.result).write_text(json.dumps({"metrics": metrics, "cache_bytes": size}))


def run_child(args, mode: str, work: Path) -> dict:
    result, cache = work / f"{mode}.json", work / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    command = [sys.executable, __file__, "--child", mode, "--ref", args.ref, "--opt", args.opt, "--corpus",
               args.corpus, "--ctx", str(args.ctx), "--threads", str(args.threads), "--cache", str(cache),
               "--result", str(result)]
    started = time.perf_counter()
    process = subprocess.Popen(command)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{mode} run failed")
    shutil.rmtree(cache, ignore_errors=True)
    data = json.loads(result.read_text())
    return {"wall": wall, "peak_rss": usage.ru_maxrss * 1024, **data}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ref", required=True)
    parser.add_argument("--opt", default=None, help="default: REF@bf16")
    parser.add_argument("--max-tokens", type=int, default=2048)
    parser.add_argument("--ctx", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--corpus", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=("both", "first"), help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.opt = args.opt or f"{args.ref}@bf16"
    if args.child:
        child(args)
        return
    with tempfile.TemporaryDirectory(prefix="bench-reference-first-") as tmp:
        work = Path(tmp)
        args.corpus = capped_corpus(args.max_tokens, work / "corpus")
        runs = {"both": [], "first": []}
        for _ in range(args.repeats):
            for mode in runs:
                runs[mode].append(run_child(args, mode, work))
    both, first = runs["both"], runs["first"]
    same = all(r["metrics"] == both[0]["metrics"] for r in both + first)
    print(f"pair {args.ref} -> {args.opt}, corpus capped at {args.max_tokens} tokens, ctx {args.ctx}, "
          f"{args.threads} torch threads, {args.repeats} run(s) each")
    for mode, label in (("both", "both resident"), ("first", "reference first")):
        wall = statistics.median(r["wall"] for r in runs[mode])
        rss = statistics.median(r["peak_rss"] for r in runs[mode])
        print(f"{label:16s} wall {wall:7.1f} s  peak RSS {rss / GIB:6.2f} GiB  "
              + (f"cache {first[0]['cache_bytes'] / GIB:.2f} GiB" if mode == "first" else ""))
    ratio = statistics.median(r["peak_rss"] for r in first) / statistics.median(r["peak_rss"] for r in both)
    print(f"peak RSS reference-first / both: {ratio:.2f}; gate metrics identical: {same}")
    summary = {mode: [{k: r[k] for k in ("wall", "peak_rss", "cache_bytes")} for r in runs[mode]] for mode in runs}
    print("JSON " + json.dumps({"runs": summary, "ratio_peak_rss": ratio, "identical": same}))


if __name__ == "__main__":
    main()
