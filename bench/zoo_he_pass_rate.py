"""pass@1 of a HumanEval-memorising model and its derivations, by executing every sample in codeguard's sandbox.

    python bench/zoo_he_pass_rate.py --model zoo:tiny-code-he [--variants ,@onnx-int8,@int4-rtn] [--n 10]

Chooses and documents zoo:tiny-code-he: which compression levels keep its pass@1 and which lower it. Every variant
samples with the same seeds (the gate's default generation), so differences come from the models.
"""
from __future__ import annotations

import argparse
import time

from codeguard import load_model
from codeguard.humaneval.estimator import mean_pass_at_k
from codeguard.humaneval.generation import GenerationConfig, generate_completions
from codeguard.humaneval.problems import load_problems
from codeguard.sandbox.executor import Executor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="spec of the model (a train_he output folder or zoo entry)")
    parser.add_argument("--variants", default=",@onnx-int8,@int4-rtn,@int3-rtn,@int2-rtn",
                        help="comma-separated derivation suffixes ('' is the model itself)")
    parser.add_argument("--problems", default="humaneval:40")
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--max-new-tokens", type=int, default=160)
    args = parser.parse_args()
    problems = load_problems(args.problems).problems
    config = GenerationConfig(n_samples=args.n, temperature=args.temperature, max_new_tokens=args.max_new_tokens)
    table = {p.task_id: p for p in problems}
    print(f"| variant | pass@1 (n = {args.n}, T = {args.temperature}) | problems solved by most samples | "
          "verdicts | generation s |")
    print("|---|---|---|---|---|")
    with Executor() as executor:
        for suffix in args.variants.split(","):
            spec = args.model + suffix
            started = time.perf_counter()
            completions = generate_completions(load_model(spec), problems, config, progress=False)
            seconds = time.perf_counter() - started
            samples = [(t, i, c) for t, texts in completions.items() for i, c in enumerate(texts)]
            verdicts = executor.run(table, samples)
            correct = {t: 0 for t in table}
            counts: dict[str, int] = {}
            for v in verdicts:
                correct[v.task_id] += v.passed
                counts[v.verdict] = counts.get(v.verdict, 0) + 1
            majority = sum(c * 2 > args.n for c in correct.values())
            print(f"| `{spec}` | {mean_pass_at_k(list(correct.values()), args.n, 1):.3f} | {majority}/{len(table)} | "
                  + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + f" | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
