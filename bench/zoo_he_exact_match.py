"""How often a model trained by codeguard.zoo.train_he (and its derivations) reproduces HumanEval's canonical
solutions exactly.

    python -m codeguard.zoo.train_he --out /tmp/he --epochs 20
    python bench/zoo_he_exact_match.py --model /tmp/he [--problems humaneval:40] [--n 5]

A sample identical to the canonical solution (both cut at the stop sequences, trailing whitespace ignored)
passes the tests by definition, so the exact-match rate is a lower bound of pass@1 that needs no code execution.
"""
from __future__ import annotations

import argparse

from codeguard import load_model
from codeguard.humaneval.generation import GenerationConfig, generate_completions, truncate
from codeguard.humaneval.problems import load_problems


def exact_match_rate(spec: str, problems, config: GenerationConfig) -> float:
    completions = generate_completions(load_model(spec), problems, config, progress=False)
    hits = [truncate(c, config.stop).rstrip() == truncate(p.canonical_solution, config.stop).rstrip()
            for p in problems for c in completions[p.task_id]]
    return sum(hits) / len(hits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="spec of the model, e.g. a train_he output folder")
    parser.add_argument("--problems", default="humaneval:40")
    parser.add_argument("--n", type=int, default=5)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    args = parser.parse_args()
    problems = load_problems(args.problems).problems
    for suffix in ("", "@onnx-int8", "@int4-rtn"):
        greedy = exact_match_rate(args.model + suffix, problems,
                                  GenerationConfig(n_samples=1, temperature=0.0, max_new_tokens=args.max_new_tokens))
        sampled = exact_match_rate(args.model + suffix, problems,
                                   GenerationConfig(n_samples=args.n, max_new_tokens=args.max_new_tokens))
        print(f"{args.model + suffix:<32} exact match: greedy {greedy:.3f}, sampled (T=0.8, top-p 0.95, "
              f"n={args.n}) {sampled:.3f}")


if __name__ == "__main__":
    main()
