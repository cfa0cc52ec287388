"""Completions for HumanEval-style problems: n seeded samples per problem, batched, cut at the stop sequences."""
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

    def check(self) -> None:
        if self.n_samples < 1 or self.max_new_tokens < 1:
            raise ProbeInputError("generation needs n_samples >= 1 and max_new_tokens >= 1")
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


def generate_completions(model, problems, config: GenerationConfig = GenerationConfig(),
                         progress: bool | None = None) -> dict[str, list[str]]:
    """n completions per problem (all n in one batched generate call through the KV cache)."""
    config.check()
    start_ids, _ = model.start_ids()
    show = sys.stderr.isatty() if progress is None else progress
    from tqdm import tqdm
    completions = {}
    for problem in tqdm(problems, desc=f"generating with {model.spec}", disable=not show, unit="problem"):
        prompt_ids = start_ids + model.tokenizer(problem.prompt, add_special_tokens=False)["input_ids"]
        rows = model.sample([prompt_ids] * config.n_samples, max_new_tokens=config.max_new_tokens,
                            temperature=config.temperature, top_p=config.top_p,
                            seed=problem_seed(config.seed, problem.task_id), stop_strings=config.stop)
        completions[problem.task_id] = [truncate(model.tokenizer.decode(row, skip_special_tokens=True), config.stop)
                                        for row in rows]
    return completions
