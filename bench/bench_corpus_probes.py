"""Times the corpus probes (corpus KLD + keyword shift, one shared pass) against bare forward passes, in one run.

    python bench/bench_corpus_probes.py [--repeats 3] [--opt zoo:tiny-code@onnx-int8]

Anchors: both models' forward passes over exactly the probe's windows, with the probe's batching, and nothing
else: once one model after the other, and once overlapped the way the probe overlaps them (opt's passes run ahead
in a thread). The fair anchor is the overlapped one: the probe's overlap is not counted as saved overhead.
Probe: `run_corpus_probes` on the same pair and corpus (scoring, statistics, keyword lookup included).
Goal: probe / overlapped anchor <= 1.15. Also prints scored tokens per second. `--torch-reduction` adds, interleaved,
the probe with the statistics reduced by torch on the CPU (what the CPU did before numpy took over; what a GPU runs). (Process CPU time is no steadier
measure here: torch's OpenMP threads spin while they wait, so the anchors' CPU time moved by 19 % between two runs.)
"""
from __future__ import annotations

import argparse
import statistics
import time
from contextlib import contextmanager

from codeguard import load_model
from codeguard.languages.corpus import load_corpus
from codeguard.probes.corpus import teacher_forced
from codeguard.probes.corpus.pair_stats import device_pair_stats, pair_stats
from codeguard.probes.corpus.runner import run_corpus_probes
from codeguard.probes.corpus.streaming import prefetched
from codeguard.probes.corpus.teacher_forced import TeacherForcedConfig, encode_corpus, make_windows


def bare_forward(model, windows: list[list[int]]) -> None:
    """The model calls `sequence_logprobs` makes (same batches), without any of its post-processing."""
    for _ in model.forward_windows(windows):
        pass


def bare_forward_overlapped(ref, opt, windows: list[list[int]]) -> None:
    """Both models' bare forward passes, opt's run ahead in a thread exactly as the probe runs them."""
    for _ in zip(ref.forward_windows(windows), prefetched(opt.forward_windows(windows))):
        pass


@contextmanager
def timed(wall: list):
    """Appends the block's wall time to the list."""
    started = time.perf_counter()
    yield
    wall.append(time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--opt", default="zoo:tiny-code@onnx-int8")
    parser.add_argument("--torch-reduction", action="store_true",
                        help="also time the probe with torch's reduction on the CPU, interleaved")
    args = parser.parse_args()
    ref, opt = load_model("zoo:tiny-code"), load_model(args.opt)
    corpus = load_corpus()
    config = TeacherForcedConfig().resolved(ref, opt)
    windows = [w.ids for w in make_windows(encode_corpus(ref.fast_tokenizer, corpus), [0], config.ctx)]
    scored_tokens = sum(len(w) - 1 for w in windows)
    wall = {name: [] for name in ("probe", "sequential", "overlapped", "probe, torch reduction")}
    for _ in range(args.repeats):  # interleaved, so machine noise hits all alike
        with timed(wall["sequential"]):
            bare_forward(ref, windows)
            bare_forward(opt, windows)
        with timed(wall["overlapped"]):
            bare_forward_overlapped(ref, opt, windows)
        with timed(wall["probe"]):
            run_corpus_probes(ref, opt, config, corpus)
        if args.torch_reduction:
            teacher_forced.pair_stats = lambda r, o: device_pair_stats(r, o, "cpu")
            try:
                with timed(wall["probe, torch reduction"]):
                    run_corpus_probes(ref, opt, config, corpus)
            finally:
                teacher_forced.pair_stats = pair_stats
    p, a, o = (statistics.median(wall[name]) for name in ("probe", "sequential", "overlapped"))
    print(f"{len(windows)} windows of ctx {config.ctx}, {scored_tokens} scored tokens, pair zoo:tiny-code vs {args.opt}")
    print(f"median of {args.repeats} wall: probes {p:.2f} s; bare forward passes {a:.2f} s one model after the "
          f"other, {o:.2f} s overlapped")
    print(f"ratio probes / overlapped forward passes {p / o:.2f} (goal <= 1.15); probes / sequential {p / a:.2f}; "
          f"{scored_tokens / p:.0f} scored tokens/s (both models)")
    if args.torch_reduction:
        t = statistics.median(wall["probe, torch reduction"])
        print(f"probes with torch's reduction on the CPU {t:.2f} s: ratio / overlapped {t / o:.2f}; each run "
              + ", ".join(f"{name} {[round(x, 2) for x in wall[name]]}" for name in wall))


if __name__ == "__main__":
    main()
