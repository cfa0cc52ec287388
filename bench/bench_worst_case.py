"""Throughput of the worst-case prefix search against bare model calls on the same prefixes, in one run.

    python bench/bench_worst_case.py [--opt zoo:tiny-code@onnx-int8] [--max-examples 100] [--batch-size 16]

Search: `run_worst_case` without a limit (generation + targeting, no shrinking), which draws batches of prefixes with
hypothesis, parses/tokenizes them and calls each model once per batch. Anchor: `next_token_logprobs` of both
models on exactly the prefixes the search evaluated, in batches of the same size. The ratio search/anchor in
prefixes per second is what hypothesis and the strategies cost on top of the forward passes.
"""
from __future__ import annotations

import argparse
import os
import platform
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ref", default="zoo:tiny-code")
    parser.add_argument("--opt", default="zoo:tiny-code@onnx-int8")
    parser.add_argument("--max-examples", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()

    from codeguard import load_model
    from codeguard.probes import worst_case
    from codeguard.probes.worst_case import WorstCaseConfig, run_worst_case

    ref, opt = load_model(args.ref), load_model(args.opt)
    ref.next_token_logprobs([[0]]), opt.next_token_logprobs([[0]])  # warm both backends
    evaluated = []
    measure = worst_case.PrefixEvaluator._measure

    def recording(self, prefixes):
        evaluated.extend(prefixes)
        return measure(self, prefixes)

    worst_case.PrefixEvaluator._measure = recording
    config = WorstCaseConfig(max_examples=args.max_examples, batch_size=args.batch_size)
    result = run_worst_case(ref, opt, config)
    worst_case.PrefixEvaluator._measure = measure
    search_s = result.metrics["seconds"]

    start_ids, _ = ref.start_ids()
    contexts = [start_ids + list(p.ids) for p in evaluated]
    started = time.perf_counter()
    for k in range(0, len(contexts), args.batch_size):
        ref.next_token_logprobs(contexts[k:k + args.batch_size])
        opt.next_token_logprobs(contexts[k:k + args.batch_size])
    bare_s = time.perf_counter() - started

    n = len(evaluated)
    print(f"# bench_worst_case {time.strftime('%Y-%m-%d')} on {platform.machine()} {os.cpu_count()} cores, "
          f"{args.ref} vs {args.opt}, max_examples={args.max_examples}, batch_size={args.batch_size}")
    print(f"search: {n} prefixes in {result.metrics['examples']:.0f} examples / {result.metrics['model_calls']:.0f} "
          f"model calls, {search_s:.1f} s = {n / search_s:.1f} prefixes/s; worst max_prefix_kl "
          f"{result.metrics['max_prefix_kl']:.5f}")
    print(f"bare next_token_logprobs (both models, same prefixes, batches of {args.batch_size}): {bare_s:.1f} s = "
          f"{n / bare_s:.1f} prefixes/s")
    print(f"ratio search/bare throughput: {(n / search_s) / (n / bare_s):.2f} "
          f"(search overhead {search_s - bare_s:+.1f} s: hypothesis, parsing, tokenizing)")


if __name__ == "__main__":
    main()
