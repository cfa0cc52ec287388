"""pass@k generation: today's per-problem batches (the anchor) against batches across problems, side by side.

    python bench/bench_generation.py [--problems humaneval:8] [--repeats 2] [--batch-rows 64]

Old path: one `model.generate` call per problem (its n samples in one batch; torch's global RNG seeded per
problem), exactly what `humaneval/generation.py` did before. New path: `generate_completions`, rows of many problems
per call (transformers models; ONNX Runtime one problem per call), each row with its own random stream, finished
rows leaving the batch, the KV cache appended in place (`codeguard/models/kv_cache.py`) and SDPA given the padding
mask directly. Both on the zoo he pair (PyTorch and ONNX Runtime int8), in one process, alternating, so both see the
same machine load; `--threads 1` gives the steadiest ratio on a shared machine. Tokens/s counts the tokens
of the truncated completions (what pass@k executes); the ratio new/old is the figure to read. Also prints how many
completions the new path gives identically at batch_rows = n (one problem per call) and at --batch-rows.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from codeguard import load_model
from codeguard.humaneval.generation import (GenerationConfig, generate_completions, problem_seed, prompt_ids,
                                            truncate)
from codeguard.humaneval.problems import load_problems

SPECS = ("zoo:tiny-code-he", "zoo:tiny-code-he@onnx-int8")


def old_path(model, problems, config: GenerationConfig) -> dict[str, list[str]]:
    """Today's generation before this change: HF generate per problem, global torch seed, stop_strings criteria."""
    out = {}
    for problem in problems:
        ids = prompt_ids(model, problem)
        contexts = [ids] * config.n_samples
        padded, mask, _ = model._padded(contexts)
        torch.manual_seed(problem_seed(config.seed, problem.task_id))
        tok = model.hf_tokenizer
        with torch.inference_mode():
            generated = model.model.generate(
                input_ids=padded, attention_mask=mask, do_sample=True, max_new_tokens=min(
                    config.max_new_tokens, model.max_context - len(ids)), top_k=0, temperature=config.temperature,
                top_p=config.top_p, pad_token_id=tok.pad_token_id or tok.eos_token_id,
                stop_strings=list(config.stop), tokenizer=tok)
        rows = []
        for row in generated[:, padded.shape[1]:].tolist():
            if tok.eos_token_id is not None and tok.eos_token_id in row:
                row = row[:row.index(tok.eos_token_id)]
            rows.append(row)
        out[problem.task_id] = [truncate(tok.decode(r, skip_special_tokens=True), config.stop) for r in rows]
    return out


def completion_tokens(model, completions) -> int:
    return sum(len(model.tokenizer(c, add_special_tokens=False)["input_ids"]) for v in completions.values() for c in v)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", default="humaneval:8")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch-rows", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=256)  # the pass@k probe's default
    parser.add_argument("--specs", default=",".join(SPECS), help="comma-separated model specs")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (default: torch's own)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    problems = load_problems(args.problems).problems
    config = GenerationConfig(n_samples=5, max_new_tokens=args.max_new_tokens, seed=0, batch_rows=args.batch_rows)
    print(f"{platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}, "
          f"{len(problems)} problems x {config.n_samples} samples, max_new_tokens {config.max_new_tokens}")
    for spec in args.specs.split(","):
        model = load_model(spec)
        times = {"old": [], "new": []}
        tokens = {}
        for _ in range(args.repeats):
            for name, run in (("old", lambda: old_path(model, problems, config)),
                              ("new", lambda: generate_completions(model, problems, config, progress=False))):
                started = time.perf_counter()
                result = run()
                times[name].append(time.perf_counter() - started)
                tokens[name] = completion_tokens(model, result)
                if name == "new":
                    new = result
                else:
                    old = result
        one = generate_completions(model, problems, GenerationConfig(**{**config.__dict__, "batch_rows": 5}),
                                   progress=False)
        same = sum(a == b for task in new for a, b in zip(new[task], one[task]))
        as_old = sum(a == b for task in new for a, b in zip(new[task], old[task]))
        old_s, new_s = statistics.median(times["old"]), statistics.median(times["new"])
        old_rate, new_rate = tokens["old"] / old_s, tokens["new"] / new_s
        print(f"{spec:<30} old {old_s:6.1f} s {tokens['old']:>5} tok {old_rate:7.1f} tok/s | new {new_s:6.1f} s "
              f"{tokens['new']:>5} tok {new_rate:7.1f} tok/s | tokens/s new/old {new_rate / old_rate:5.2f}x, "
              f"time old/new {old_s / new_s:5.2f}x | batch {config.batch_rows} rows vs 5 rows: {same} of "
              f"{sum(len(v) for v in new.values())} completions identical; new vs old: {as_old} identical")


if __name__ == "__main__":
    main()
