"""Collects the pass@k gate's raw material under many seeds: per problem and seed, which samples of each model pass.

    python bench/pass_at_k_seeds.py --out bench/fidelity/pass_at_k_seeds.json [--seeds 0-19] [--n 10]
        [--model zoo:tiny-code-he] [--variants @onnx-int8,@int4-rtn,@int3-rtn]

The gate's settings otherwise (humaneval:40, T 0.8, top-p 0.95, 256 new tokens, the sandbox, 3 s timeout). Sample
i of a problem draws from its own stream seeded with (seed, task, i), so the first 5 of n = 10 samples draw like an
n = 5 run, but not exactly for ONNX Runtime models: dynamic int8 quantizes activations over the whole batch of a
problem's n rows, so batch-mates change a row's tokens. Collect at the n the gate runs (`--n 5`) for its verdicts;
a collection at n = 10 compares sample sizes. Every (seed, model) is written as soon as it is done, and a rerun
skips what the file already holds, so the collection can be stopped and resumed.
`bench/bench_gate_fidelity.py` turns the file into false-alarm and detection rates of each pass@k decision rule.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from codeguard import load_model
from codeguard.atomic_files import write_json_atomically
from codeguard.humaneval.problems import load_problems
from codeguard.probes.pass_at_k import PassAtKConfig, executed_samples
from codeguard.sandbox.executor import Executor, SandboxConfig


def seed_range(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seeds", default="0-19")
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--model", default="zoo:tiny-code-he")
    parser.add_argument("--variants", default="@onnx-int8,@int4-rtn,@int3-rtn")
    args = parser.parse_args()
    data = json.load(open(args.out)) if os.path.exists(args.out) else {}
    if data and (data["model"], data["n"]) != (args.model, args.n):
        raise SystemExit(f"{args.out} holds {data['model']} at n = {data['n']}; use another --out")
    base = PassAtKConfig(n_samples=args.n)
    data.update(model=args.model, n=args.n, problems=base.problems, temperature=base.temperature,
                top_p=base.top_p, max_new_tokens=base.max_new_tokens, timeout=base.timeout)
    runs = data.setdefault("runs", {})  # "<seed>" -> {spec: {task_id: [passed, ...]}}
    problems = load_problems(base.problems)
    specs = [args.model] + [args.model + suffix for suffix in args.variants.split(",") if suffix]
    models = {}
    with Executor(SandboxConfig(timeout=base.timeout, workers=base.workers)) as executor:
        data["isolation"] = executor.isolation
        for seed in seed_range(args.seeds):
            config = PassAtKConfig(n_samples=args.n, seed=seed)
            for spec in specs:
                if spec in runs.get(str(seed), {}):
                    continue
                started = time.perf_counter()
                model = models.get(spec) or models.setdefault(spec, load_model(spec))
                samples = executed_samples(model, problems, config, executor, progress=False)
                runs.setdefault(str(seed), {})[spec] = {
                    task: [sample["verdict"] == "passed" for sample in rows] for task, rows in samples.items()}
                write_json_atomically(Path(args.out), data, indent=None)
                solved = sum(sum(rows) for rows in runs[str(seed)][spec].values())
                print(f"seed {seed} {spec}: {solved}/{len(problems.problems) * args.n} samples pass "
                      f"({time.perf_counter() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
