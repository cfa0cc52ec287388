"""A user's own project, end to end, from the README's words: codeguard built as a wheel and installed into a fresh
virtual environment, a project outside this repository with its own model folder, `codeguard init`, the installed
suites' first run, acceptance, a green re-run, and a damaged candidate that fails.

The README's block ("Your own project") is run line by line as written, with three substitutions, each for a reason:
- `pip install torch ...` is skipped and `pip install codeguard` installs the wheel built here with `--no-deps`: the
  fresh venv takes every dependency from this test's environment through a `.pth` line (no download of torch), while
  codeguard itself must come from the wheel (checked: `codeguard.__file__` lies in the new venv).
- `codeguard init` gets `--suites cold_start,keyword_mass`: these two gate in seconds on the zoo model; the corpus,
  worst-case and pass@k suites take minutes each and are run by their own tests.
- `pytest` is the new venv's `python -m pytest` (pytest itself comes from this environment, so the venv has no
  `pytest` script); the invocation, and so the accept command codeguard prints, is the same.
A line's comment says what it must do: one that says "fails" must exit 1, every other must exit 0.
"""
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from codeguard.models.zoo import zoo_path
from tests.helpers import REPO, readme_code_block

pytestmark = pytest.mark.slow
FAST_SUITES = "cold_start,keyword_mass"
# What a wheel build needs from the repository (a copy, so stale build/ output of a checkout cannot leak in).
NOT_BUILT = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".hypothesis",
                                   ".codeguard", ".pytest_cache", "zoo-work", "tests", "bench", "baselines")
# Nothing of this test's own pytest run may reach the user's: not our source tree, not our options or plugins.
LEAKY = ("PYTHONPATH", "PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_CURRENT_TEST", "PYTEST_XDIST_WORKER",
         "PYTEST_XDIST_WORKER_COUNT", "CODEGUARD_MODEL_PAIR", "GITHUB_STEP_SUMMARY", "GITHUB_ACTIONS")


def readme_steps() -> list[tuple[str, str]]:
    """(command, comment) per line of the README's own-project block."""
    steps = []
    for line in readme_code_block("Your own project", "bash").splitlines():
        if line.strip():
            command, _, comment = line.partition("  # ")
            steps.append((command.strip(), comment.strip()))
    return steps


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A fresh venv whose dependencies come from this environment, with nothing of codeguard installed yet; and
    the wheel of this checkout."""
    root = tmp_path_factory.mktemp("user-venv")
    source = root / "source"
    shutil.copytree(REPO, source, ignore=NOT_BUILT)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(root / "wheels"), str(source)], check=True, env=_clean_env(), capture_output=True)
    (wheel,) = (root / "wheels").glob("codeguard-*.whl")
    env_dir = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    site = Path(subprocess.run([env_dir / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()"
                                "['purelib'])"], check=True, capture_output=True, text=True).stdout.strip())
    ours = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site / "_test_environment.pth").write_text("".join(f"{path}\n" for path in ours))
    return env_dir, wheel


def _clean_env(venv_dir: Path | None = None) -> dict:
    env = {key: value for key, value in os.environ.items() if key not in LEAKY}
    if venv_dir is not None:
        env["PATH"] = f"{venv_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(venv_dir)
    return env


def _run(argv, cwd, venv_dir):
    proc = subprocess.run([str(a) for a in argv], cwd=cwd, env=_clean_env(venv_dir), capture_output=True,
                          text=True, timeout=900)
    return proc.returncode, proc.stdout + proc.stderr


def test_a_users_project_from_the_readme(venv, tmp_path):
    venv_dir, wheel = venv
    python = venv_dir / "bin" / "python"
    project = tmp_path / "my-project"
    shutil.copytree(zoo_path("tiny-code"), project / "models" / "ref")  # the user's own reference model folder
    assert not project.resolve().is_relative_to(REPO.resolve())

    steps = readme_steps()
    kinds = [shlex.split(command)[0] for command, _ in steps]
    assert kinds == ["pip", "pip", "codeguard", "pytest", "pytest", "pytest", "pytest"], steps
    outputs = []
    for command, comment in steps:
        argv = shlex.split(command)
        if argv[:2] == ["pip", "install"] and argv[2].startswith("torch"):
            continue  # torch comes from this environment (module docstring)
        if argv == ["pip", "install", "codeguard"]:
            argv = [python, "-m", "pip", "install", "--no-deps", "--no-index", "-q", wheel]
        elif argv[0] == "codeguard":
            argv = [venv_dir / "bin" / "codeguard", *argv[1:]] + (["--suites", FAST_SUITES] if argv[1] == "init"
                                                                   else [])
        elif argv[0] == "pytest":
            argv = [python, "-m", "pytest", *argv[1:]]
        code, output = _run(argv, project, venv_dir)
        expected = 1 if "fails" in comment else 0
        assert code == expected, f"README step `{command}` ({comment}) exited {code}, not {expected}:\n{output[-6000:]}"
        outputs.append((command, output))
        if argv[0] == python and argv[2] == "pip":
            _check_codeguard_comes_from_the_wheel(python, project, venv_dir)
        if argv[0] == venv_dir / "bin" / "codeguard":
            _check_the_scaffold(python, project, venv_dir)

    _install, _init, (first_command, first), (accept_command, accept), (_, green), (_, damaged) = outputs
    # First run: no baseline yet; the failure ends with the exact command that accepts the candidate.
    assert f"{first_command} --codeguard-update" == accept_command
    assert f"    {accept_command}" in first, first[-4000:]
    # Accepting writes one baseline per suite, into one folder for this reference.
    written = sorted(p.relative_to(project).as_posix() for p in (project / "baselines").glob("*/*.json"))
    assert [Path(p).name for p in written] == ["cold_start.json", "keyword_mass.json"], written
    assert len({Path(p).parent for p in written}) == 1
    for path in written:
        assert Path(path).name in accept
    # Re-run green, with the tables of both gates.
    assert "2 passed" in green and "cold_start: PASSED" in green and "keyword_mass: PASSED" in green
    # A damaged candidate fails both gates, naming the metrics and the baseline file to tune.
    assert "codeguard gate 'cold_start' failed for ./models/ref@int4-rtn against ./models/ref" in damaged
    assert "codeguard gate 'keyword_mass' failed for ./models/ref@int4-rtn" in damaged
    assert re.search(r"^kl_ref_opt .*FAIL", damaged, re.MULTILINE), damaged[-6000:]
    assert "cold_start.json" in damaged and "keyword_mass.json" in damaged, damaged[-6000:]

    # Issue 15 §2/§4 (the plugin's side). The first run shows the candidate's metrics, the table a reviewer decides
    # on, besides the accept command; the update prints a short diff, not the baselines' JSON; a failure says what
    # to do next; and with the scaffold's codeguard_required a run without a pair fails instead of skipping.
    for metric in ("kl_ref_opt", "js_divergence", "pkp_rel_shift.python", "stp_abs_shift"):
        assert re.search(rf"^\s*{re.escape(metric)}\s+[0-9.e+-]+\b", first, re.MULTILINE), (metric, first[-4000:])
    assert '"schema_version"' not in accept and len(accept.splitlines()) < 150, accept[-6000:]
    assert "--codeguard-update" in damaged and "report" in damaged.lower(), damaged[-6000:]
    code, output = _run([python, "-m", "pytest", "suites"], project, venv_dir)
    assert code not in (0, 5) and "--model-pair" in output, output[-3000:]


def _check_codeguard_comes_from_the_wheel(python, project, venv_dir):
    code, output = _run([python, "-c", "import codeguard, codeguard.suites; print(codeguard.__file__); "
                         "print(codeguard.suites.__file__)"], project, venv_dir)
    assert code == 0, output
    site = (venv_dir / "lib").resolve()
    for line in output.split():
        assert Path(line).resolve().is_relative_to(site), f"codeguard imported from {line}, not from the wheel"


def _check_the_scaffold(python, project, venv_dir):
    for name in ("suites/test_cold_start.py", "suites/test_keyword_mass.py", "suites/pytest.ini",
                 "baselines/README.md", ".github/workflows/codeguard.yml"):
        assert (project / name).is_file(), name
    assert not (project / "suites" / "test_pass_at_k.py").exists()
    # The packaged suites run from the installed codeguard, with or without the scaffold.
    code, output = _run([python, "-m", "pytest", "--pyargs", "codeguard.suites", "--collect-only", "-q"],
                        project, venv_dir)
    assert code == 0 and "6 tests collected" in output, output
