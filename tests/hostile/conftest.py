"""Shared set-up for the hostile corpus: one Executor for the whole session (surviving every attack is part of what
is tested), a trivially checkable problem, and ways to see side effects from outside the sandbox."""
import os
import uuid
from pathlib import Path

import pytest

from codeguard.humaneval.problems import Problem
from codeguard.sandbox.executor import Executor, SandboxConfig

TIMEOUT = 1.5
ADD_ONE = Problem(
    task_id="hostile/add_one",
    prompt='def add_one(x):\n    """Returns x + 1."""\n',
    entry_point="add_one",
    test="def check(candidate):\n    assert candidate(1) == 2\n    assert candidate(-5) == -4\n",
)
CORRECT = "    return x + 1\n"


@pytest.fixture(scope="session")
def executor():
    with Executor(SandboxConfig(timeout=TIMEOUT, workers=2, memory_mb=512, max_processes=16)) as shared:
        yield shared


@pytest.fixture(autouse=True)
def harness_survives(executor):
    """After every attack the shared executor must still give an honest sample its honest verdict."""
    yield
    (after,) = executor.run({ADD_ONE.task_id: ADD_ONE}, [(ADD_ONE.task_id, 0, CORRECT)])
    assert after.verdict == "passed", f"the executor is broken after the attack: {after}"


@pytest.fixture
def token():
    """A marker unique to the test (xdist-safe) to find processes and files the attack made."""
    return f"codeguard-hostile-{uuid.uuid4().hex}"


def run_one(executor, completion: str, problem: Problem = ADD_ONE):
    (verdict,) = executor.run({problem.task_id: problem}, [(problem.task_id, 7, completion)])
    assert verdict.task_id == problem.task_id and verdict.completion_id == 7
    return verdict


def processes_with(marker: str) -> list[str]:
    """Live processes (not zombies) whose command line contains `marker`."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z":
            found.append(f"{name}: {cmdline[:120]}")
    return found


def sleeper_source(marker: str) -> str:
    """Python source (one expression) that replaces the current process by a long sleeper tagged with `marker`."""
    return ("os.execv(sys.executable, [sys.executable, '-c', 'import time\\nwhile True: time.sleep(1)', "
            f"{marker!r}])")


def require_isolation(executor) -> None:
    """Network and filesystem assertions need bubblewrap; without it the executor must have said so, loudly.

    Attacks on other processes (kill(-1), an unbounded fork bomb) also call this BEFORE running: without a pid
    namespace and a dropped uid they would hit the host itself.
    """
    if not executor.isolation.startswith("bubblewrap"):
        assert "NO network or filesystem isolation" in executor.isolation
        pytest.skip(f"bubblewrap unavailable, so this isolation cannot hold here: {executor.isolation}")


@pytest.fixture
def outside_dir(token):
    """A real directory outside any temp dir the sandbox gives a sample (under /var/tmp, not the private /tmp)."""
    directory = Path("/var/tmp") / token
    directory.mkdir(mode=0o777)
    directory.chmod(0o777)  # so that only the sandbox, not file permissions, can stop a write
    yield directory
    for child in directory.iterdir():
        child.unlink()
    directory.rmdir()


def samples_may_fork(executor) -> bool:
    """Whether samples may create processes: only where a cgroup bounds their memory as a whole (syscalls.py)."""
    return "samples may not fork" not in executor.isolation


def forged_frame_completion(build: str) -> str:
    """A completion that writes a frame of its own making on every socket it holds (the checker's channel among
    them), then waits: `build` is the sample's source lines (4-space indented) that set `forged` to the frame's
    bytes."""
    return ("    import json, os, socket, stat, struct, time\n" + build +
            "    for fd in range(3, 64):\n"
            "        try:\n"
            "            if stat.S_ISSOCK(os.fstat(fd).st_mode):\n"
            "                socket.socket(fileno=fd).sendall(struct.pack(\">I\", len(forged)) + forged)\n"
            "        except OSError:\n"
            "            pass\n"
            "    time.sleep(5)\n")

