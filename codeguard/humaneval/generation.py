"""Completions for HumanEval-style problems: n seeded samples per problem, batched, cut at the stop sequences.

Sample i of a problem draws from its own random stream, seeded with (problem_seed(seed, task_id), i): the same
completions whichever problems share its batch. Models that sample batches through a KV cache in one process
(`samples_across_problems`) get rows of many problems per call; the others (llama.cpp, which runs one row at a
time, and served models, which seed per request) get one problem's rows per call.
"""
from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass

from codeguard.errors import ProbeInputError

# HumanEval's standard stop sequences: a completion ends where the next top-level statement would begin.
STOP_SEQUENCES = ("\ndef", "\nclass", "\nif", "\nprint", "\n#")


@dataclass(frozen=True)
class GenerationConfig:
    n_samples: int = 5
    temperature: float = 0.8
    top_p: float = 0.95
    max_new_tokens: int = 128
    seed: int = 0
    stop: tuple[str, ...] = STOP_SEQUENCES
    batch_rows: int = 64  # rows (problems x samples) per sampling call; speed only, never the completions

    def check(self) -> None:
        if self.n_samples < 1 or self.max_new_tokens < 1 or self.batch_rows < 1:
            raise ProbeInputError("generation needs n_samples >= 1, max_new_tokens >= 1 and batch_rows >= 1")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ProbeInputError(f"generation: temperature must be >= 0 and top_p in (0, 1] (got "
                                  f"{self.temperature}, {self.top_p})")
        if self.temperature == 0 and self.n_samples > 1:
            raise ProbeInputError("greedy decoding (temperature 0) gives one sample per problem; use n_samples=1")


def truncate(completion: str, stops: tuple[str, ...] = STOP_SEQUENCES) -> str:
    """The completion up to the first stop sequence."""
    cut = min((i for i in (completion.find(s) for s in stops) if i >= 0), default=len(completion))
    return completion[:cut]


def problem_seed(seed: int, task_id: str) -> int:
    """A seed per problem, so a problem's samples do not depend on which problems ran before it."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{task_id}".encode()).digest()[:4], "big")


def prompt_ids(model, problem) -> list[int]:
    """The model's start ids followed by the prompt, as generation feeds them."""
    return model.start_ids()[0] + model.tokenizer(problem.prompt, add_special_tokens=False)["input_ids"]


def check_prompts_fit(model, problems) -> None:
    """Fails before any generation when a prompt leaves no room in the model's context, naming the problems."""
    limit = int(model.max_context)
    too_long = [(p.task_id, n) for p in problems if (n := len(prompt_ids(model, p))) >= limit]
    if too_long:
        listed = ", ".join(f"{task} ({n} tokens)" for task, n in too_long[:8])
        raise ProbeInputError(f"{len(too_long)} prompt(s) fill the {limit}-position context of {model.spec}"
                              f"{getattr(model, 'context_hint', '')}, leaving no room to generate: {listed}"
                              f"{' ...' if len(too_long) > 8 else ''}. Choose problems that fit "
                              "(--codeguard-problems) or a model with a longer context")


def generate_completions(model, problems, config: GenerationConfig = GenerationConfig(),
                         progress: bool | None = None) -> dict[str, list[str]]:
    """n completions per problem, batched through the KV cache (across problems where the model can).

    A completion is cut where the model's context ends (positions past it were never trained).
    """
    config.check()
    check_prompts_fit(model, problems)
    limit = int(model.max_context)
    show = sys.stderr.isatty() if progress is None else progress
    from tqdm import tqdm
    prompts = {p.task_id: prompt_ids(model, p) for p in problems}
    across = bool(getattr(model, "samples_across_problems", False))
    # Prompts of similar length share a batch (less padding); the order never changes a completion.
    ordered = sorted(problems, key=lambda p: -len(prompts[p.task_id])) if across else list(problems)
    per_call = max(1, config.batch_rows // config.n_samples) if across else 1
    rows_of: dict[str, list[list[int]]] = {}
    with tqdm(total=len(problems), desc=f"generating with {model.spec}", disable=not show, unit="problem") as bar:
        for start in range(0, len(ordered), per_call):
            group = ordered[start:start + per_call]
            seeds = [problem_seed(config.seed, p.task_id) for p in group]
            kwargs = {}
            if across:
                kwargs["row_seeds"] = [(s, i) for s in seeds for i in range(config.n_samples)]
            rows = model.sample([prompts[p.task_id] for p in group for _ in range(config.n_samples)],
                                max_new_tokens=min(config.max_new_tokens,
                                                   limit - min(len(prompts[p.task_id]) for p in group)),
                                temperature=config.temperature, top_p=config.top_p, seed=seeds[0],
                                stop_strings=config.stop, **kwargs)
            for index, problem in enumerate(group):
                rows_of[problem.task_id] = rows[index * config.n_samples:(index + 1) * config.n_samples]
            bar.update(len(group))
    return {p.task_id: [truncate(model.tokenizer.decode(row, skip_special_tokens=True), config.stop)
                        for row in rows_of[p.task_id]] for p in problems}
