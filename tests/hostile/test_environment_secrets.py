"""The harness's environment (API keys, CI tokens) was inherited by samples, which could put it in a verdict's
detail, and from there into reports and GitHub job summaries. Samples get a minimal, fixed environment: no value
of the harness's environment reaches them, through os.environ or /proc."""
import pytest

from codeguard.humaneval.problems import Problem
from codeguard.sandbox.executor import Executor, SandboxConfig
from codeguard.sandbox.isolation import SAMPLE_ENVIRONMENT_KEYS

SECRETS = ("OPENAI_API_KEY", "CODEGUARD_OPENAI_API_KEY", "GITHUB_TOKEN", "HF_TOKEN", "AWS_SECRET_ACCESS_KEY")
LEAKS = Problem(
    task_id="hostile/leaks",
    prompt="def leaks(marker):\n",
    entry_point="leaks",
    test="def check(candidate):\n    found = candidate('codeguard-secret-')\n    assert found == [], found\n",
)
# Looks everywhere a sample can read an environment: its own, and every /proc/PID/environ it may open.
HUNT = """    import os
    found = [f"{key}={value}" for key, value in os.environ.items() if marker in value]
    for pid in os.listdir("/proc"):
        if pid.isdigit() or pid == "self":
            try:
                with open(f"/proc/{pid}/environ", "rb") as handle:
                    if marker.encode() in handle.read():
                        found.append(f"/proc/{pid}/environ")
            except OSError:
                pass
    return found
"""
ENVIRONMENT = Problem("hostile/environment", "def environment(x):\n", "environment",
                      "def check(candidate):\n    assert candidate(0) == EXPECTED, candidate(0)\n")


@pytest.fixture
def secret_executor(monkeypatch, token):
    for name in SECRETS:
        monkeypatch.setenv(name, f"codeguard-secret-{name}-{token}")
    with Executor(SandboxConfig(timeout=3.0, workers=1)) as fresh:  # started with the secrets in its environment
        yield fresh


def test_no_secret_of_the_harness_reaches_a_sample(secret_executor):
    (verdict,) = secret_executor.run({LEAKS.task_id: LEAKS}, [(LEAKS.task_id, 0, HUNT)])
    assert verdict.verdict == "passed", verdict
    assert "codeguard-secret" not in verdict.detail


def test_the_sample_environment_is_the_fixed_minimal_one(secret_executor):
    problem = Problem(ENVIRONMENT.task_id, ENVIRONMENT.prompt, ENVIRONMENT.entry_point,
                      f"EXPECTED = {sorted(SAMPLE_ENVIRONMENT_KEYS)!r}\n" + ENVIRONMENT.test)
    (verdict,) = secret_executor.run({problem.task_id: problem},
                                     [(problem.task_id, 0, "    import os\n    return sorted(os.environ)\n")])
    assert verdict.verdict == "passed", verdict
