"""How many tail draws a top-K reference cache needs: the KL statistics from the top set alone (one tail bucket, the
lower bound) and from the top set plus S draws from ref's tail, against the exact KL over the same positions.

    python bench/bench_tail_draws.py [--ref zoo:tiny-code] [--opt zoo:tiny-code@onnx-int8] [--corpus DIR]
                                     [--windows 40] [--ctx 256] [--top-k 64] [--draws 4,8,16,32,64]

Scores `--windows` windows of the corpus (drawn with seed 0) with both models, keeps their full log-probabilities,
and reduces them with codeguard's own top_sets / top_k_kld (probes/reference_cache/reductions.py) at each S. Prints
each statistic's relative error (bench/RESULTS.md, "Top-K caches with draws from the tail").
"""
from __future__ import annotations

import argparse

import numpy as np
import torch


def statistics(kld: np.ndarray) -> dict[str, float]:
    return {"mean": kld.mean(), "median": np.median(kld), "p90": np.quantile(kld, 0.9),
            "p99": np.quantile(kld, 0.99), "max": kld.max()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ref", default="zoo:tiny-code")
    parser.add_argument("--opt", default="zoo:tiny-code@onnx-int8")
    parser.add_argument("--corpus", default=None, help="default: the shipped corpus")
    parser.add_argument("--windows", type=int, default=40)
    parser.add_argument("--ctx", type=int, default=256)
    parser.add_argument("--top-k", type=int, default=64)
    parser.add_argument("--draws", default="4,8,16,32,64")
    args = parser.parse_args()

    from codeguard import load_model
    from codeguard.languages.corpus import load_corpus
    from codeguard.languages.registry import load_registry
    from codeguard.probes.corpus.pair_stats import pair_stats
    from codeguard.probes.corpus.teacher_forced import encode_corpus, make_windows
    from codeguard.probes.reference_cache.build import DEFAULT_MASS
    from codeguard.probes.reference_cache.reductions import top_k_kld, top_sets

    ref, opt = load_model(args.ref), load_model(args.opt)
    start, _ = ref.start_ids(None)
    corpus = load_corpus(args.corpus, load_registry())
    windows = make_windows(encode_corpus(ref.fast_tokenizer, corpus), start, args.ctx)
    chosen = np.random.default_rng(0).choice(len(windows), min(args.windows, len(windows)), replace=False)
    ids = [windows[i].ids for i in sorted(chosen)]
    n = len(start)
    ref_logits, opt_logits = [], []
    for zr, zo in zip(ref.sequence_logits(ids), opt.sequence_logits(ids)):
        ref_logits.append(zr[n - 1:-1].float())
        opt_logits.append(zo[n - 1:-1].float())
    zr, zo = torch.cat(ref_logits), torch.cat(opt_logits)
    exact = statistics(pair_stats(zr, zo).kld)
    lr, lo = torch.log_softmax(zr.double(), dim=1), torch.log_softmax(zo.double(), dim=1)
    print(f"{args.ref} -> {args.opt}: {zr.shape[0]} positions, vocabulary {zr.shape[1]}, top-{args.top_k} "
          f"up to mass {DEFAULT_MASS}")
    print(f"{'estimate':<14}" + "".join(f"{name:>10}" for name in exact))
    print(f"{'exact':<14}" + "".join(f"{value:>10.4g}" for value in exact.values()))
    for draws in [int(d) for d in args.draws.split(",")]:
        top = top_sets(lr, DEFAULT_MASS, args.top_k, draws, torch.Generator().manual_seed(0))
        if draws == int(args.draws.split(",")[0]):
            _row("one bucket", statistics(coarsened_kld(top, lr, lo)), exact)
        _row(f"+ {draws} draws", statistics(top_k_kld(top, zo)[2].numpy()), exact)


def coarsened_kld(top, lr: torch.Tensor, lo: torch.Tensor) -> np.ndarray:
    """KL between the two distributions coarsened to (ref's top set, one tail bucket): the lower bound a top-K cache
    gave before it kept tail draws, from the full log-probabilities."""
    kept = torch.zeros_like(lr, dtype=torch.bool)
    rows = torch.from_numpy(np.repeat(np.arange(top.offsets.size - 1), np.diff(top.offsets)))
    kept[rows, torch.from_numpy(top.ids.astype(np.int64))] = True
    head = torch.where(kept, lr.exp() * (lr - lo), 0.0).sum(dim=1)
    tail_r = torch.logsumexp(lr.masked_fill(kept, -torch.inf), dim=1)
    tail_o = torch.logsumexp(lo.masked_fill(kept, -torch.inf), dim=1)
    bucket = torch.where(torch.isfinite(tail_r), tail_r.exp() * (tail_r - tail_o), 0.0)
    return (head + bucket).clamp(min=0.0).numpy()


def _row(label: str, stats: dict[str, float], exact: dict[str, float]) -> None:
    print(f"{label:<14}" + "".join(f"{100 * (stats[k] - exact[k]) / exact[k]:>+9.2f}%" for k in exact))


if __name__ == "__main__":
    main()
