"""A problem set is checked before any model loads: every test must compile, and every canonical solution the set
carries must pass its own test in the sandbox. Otherwise a broken problem scores 0 for both models and a gate
(or an accepted baseline) blames the model for the problem's fault."""
from __future__ import annotations

from codeguard.humaneval.problems import ProblemsError, ProblemSet
from codeguard.sandbox.executor import Executor, SandboxConfig

_VALIDATED: set[str] = set()  # problem sets (by content hash) that passed in this process


def validate_problems(problem_set: ProblemSet, executor: Executor | None = None) -> None:
    """Raises ProblemsError naming each refused problem and why; a set that passed once is not run again."""
    if problem_set.sha256 in _VALIDATED:
        return
    refused = [f"{p.task_id}: its test does not compile ({reason})" for p in problem_set.problems
               if (reason := _compile_error(p.test, f"{p.task_id} test")) is not None]
    with_solutions = {p.task_id: p for p in problem_set.problems if p.canonical_solution is not None}
    if with_solutions and not refused:
        own = executor is None
        executor = executor or Executor(SandboxConfig())
        try:
            jobs = [(task_id, 0, p.canonical_solution) for task_id, p in with_solutions.items()]
            verdicts = executor.run(with_solutions, jobs)
        finally:
            if own:
                executor.close()
        refused += [f"{v.task_id}: its canonical solution does not pass its own test ({v.verdict}: "
                    f"{v.detail[:300]})" for v in verdicts if not v.passed]
    if refused:
        shown = "\n  ".join(refused[:20]) + (f"\n  ... and {len(refused) - 20} more" if len(refused) > 20 else "")
        raise ProblemsError(
            f"problem set {problem_set.name!r}: {len(refused)} problem(s) refused before any model loads, because a "
            f"problem that fails on its own would score 0 for both models:\n  {shown}\nFix or remove them.")
    _VALIDATED.add(problem_set.sha256)


def _compile_error(source: str, where: str) -> str | None:
    try:
        compile(source, where, "exec")
    except (SyntaxError, ValueError) as error:
        return f"{type(error).__name__}: {error}"
    return None
