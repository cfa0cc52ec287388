"""pass@k sampling through llama.cpp: a prompt scored once per problem against once per sample, side by side.

    python bench/bench_gguf_sampling.py [--spec zoo:tiny-code-he@gguf-q8_0] [--problems 8] [--repeats 3]

Old path (the anchor), what `GGUFCausalLM.sample` did before: each of a problem's n rows scores the whole prompt
again through `Llama.eval`, which computes the output layer at every prompt position and copies every position's
logits into llama-cpp-python's (n_ctx, vocab) array, then steps one token at a time through `Llama.eval`, reading that
array. New path, `GGUFCausalLM.sample` now: the rows of a problem share one scoring of the prompt (logits of its last
position only), and each step reads llama.cpp's output buffer. Both draw with the same row generators, so the tokens
must be identical (checked). Settings: pass@k's defaults (n 5, T 0.8, top-p 0.95, 128 new tokens, the stop
sequences), HumanEval's first --problems problems, one model, --threads llama.cpp threads; the paths alternate,
--repeats times, medians. Reported: seconds, generated tokens/s, and the ratio new/old.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from codeguard import load_model
from codeguard.humaneval.generation import GenerationConfig, problem_seed, prompt_ids
from codeguard.humaneval.problems import load_problems
from codeguard.models.gguf import _choose
from codeguard.models.sampling import row_generators


def old_sample(model, contexts, max_new_tokens, temperature, top_p, seed, stop_strings):
    """GGUFCausalLM.sample before the change: Llama.eval of the whole prompt per row, Llama.eval per step."""
    llama, eos, samples = model.llama, model.special.get("eos"), []
    for row, context in enumerate(contexts):
        rng = row_generators([(seed, row)])[0]
        llama.reset()
        llama.eval(context)
        logits, new = llama.scores[len(context) - 1], []
        while len(new) < max_new_tokens:
            token = _choose(logits.astype(np.float64), temperature, top_p, rng)
            if token == eos:
                break
            new.append(token)
            if any(s in model.hf_tokenizer.decode(new) for s in stop_strings) or llama.n_tokens >= model.max_context:
                break
            llama.eval([token])
            logits = llama.scores[llama.n_tokens - 1]
        samples.append(new)
    return samples


def generate(sample, model, problems, config: GenerationConfig) -> tuple[float, list]:
    """Seconds and the rows of every problem, sampled as humaneval/generation.py samples a GGUF model."""
    started, rows = time.perf_counter(), []
    for problem in problems:
        prompt = prompt_ids(model, problem)
        rows.append(sample(model, [prompt] * config.n_samples,
                           min(config.max_new_tokens, model.max_context - len(prompt)), config.temperature,
                           config.top_p, problem_seed(config.seed, problem.task_id), config.stop))
    return time.perf_counter() - started, rows


def new_sample(model, contexts, max_new_tokens, temperature, top_p, seed, stop_strings):
    return model.sample(contexts, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed,
                        stop_strings=stop_strings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", default="zoo:tiny-code-he@gguf-q8_0")
    parser.add_argument("--problems", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    os.environ["CODEGUARD_GGUF_THREADS"] = str(args.threads)
    model = load_model(args.spec, device="cpu")
    problems = load_problems().problems[:args.problems]
    config = GenerationConfig()
    generate(new_sample, model, problems[:1], config)  # warm-up
    seconds = {"old": [], "new": []}
    rows = {}
    for _ in range(args.repeats):
        for name, sample in (("old", old_sample), ("new", new_sample)):
            took, rows[name] = generate(sample, model, problems, config)
            seconds[name].append(took)
    tokens = sum(len(row) for problem in rows["new"] for row in problem)
    same = rows["old"] == rows["new"]
    load = os.getloadavg()
    print(f"{args.spec}: {len(problems)} problems x {config.n_samples} samples, {tokens} tokens generated; "
          f"{args.threads} llama.cpp thread(s); load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    for name in seconds:
        median = statistics.median(seconds[name])
        print(f"  {name}: median {median:.2f} s ({tokens / median:.0f} tokens/s), all "
              + " ".join(f"{s:.2f}" for s in seconds[name]))
    print(f"  new / old time: {statistics.median(seconds['new']) / statistics.median(seconds['old']):.2f}; "
          f"the same tokens in every row: {same}")


if __name__ == "__main__":
    main()
