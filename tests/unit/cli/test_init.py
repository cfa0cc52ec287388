"""`codeguard init`: the scaffold's files, the refusal to overwrite, idempotence, and bad options."""
import configparser
import subprocess
import sys

import pytest
import yaml  # PyYAML comes with huggingface-hub, a dependency

from codeguard.cli.init import SUITES, plan
from codeguard.cli.main import main
from tests.helpers import REPO


def _init(*args):
    return main(["init", *map(str, args)])


def test_init_scaffolds_suites_baselines_and_a_workflow(tmp_path, capsys):
    assert _init(tmp_path, "--model-pair", "./models/ref,./models/ref@onnx-int8") == 0
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert written == sorted([f"suites/test_{name}.py" for name in SUITES]
                             + ["suites/pytest.ini", "baselines/README.md", ".github/workflows/codeguard.yml"])
    out = capsys.readouterr().out
    assert f"created {tmp_path / 'suites' / 'pytest.ini'}" in out
    assert "pytest suites --model-pair ./models/ref,./models/ref@onnx-int8" in out and "--codeguard-update" in out

    suite = (tmp_path / "suites" / "test_keyword_mass.py").read_text()
    assert "from codeguard.suites.test_keyword_mass import *" in suite
    ini = configparser.ConfigParser()
    ini.read(tmp_path / "suites" / "pytest.ini")
    assert ini["pytest"]["codeguard_required"] == "true" and ini["pytest"]["codeguard_baseline_dir"] == "../baselines"
    assert "review" in (tmp_path / "baselines" / "README.md").read_text().lower()

    workflow = (tmp_path / ".github" / "workflows" / "codeguard.yml").read_text()
    assert 'REFERENCE: "./models/ref"' in workflow and 'CANDIDATE: "./models/ref@onnx-int8"' in workflow
    assert 'pytest suites --model-pair "$REFERENCE,$CANDIDATE" --codeguard-report report/' in workflow
    assert "torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in workflow and "GPU" in workflow
    assert "actions/upload-artifact" in workflow and "path: report/" in workflow and "if: always()" in workflow
    assert "GITHUB_STEP_SUMMARY" in workflow


def test_every_scaffolded_suite_is_a_shipped_suite():
    for name in SUITES:
        assert (REPO / "suites" / f"test_{name}.py").is_file(), name


def test_the_workflow_is_valid_yaml_with_the_gate_step(tmp_path):
    _init(tmp_path)
    workflow = yaml.safe_load((tmp_path / ".github" / "workflows" / "codeguard.yml").read_text())
    steps = workflow["jobs"]["gate"]["steps"]
    assert any("pytest suites" in step.get("run", "") for step in steps)
    assert workflow["env"] == {"REFERENCE": "./models/reference", "CANDIDATE": "./models/candidate"}


def test_init_refuses_to_overwrite_naming_every_differing_file_and_writes_nothing(tmp_path, capsys):
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "baselines").mkdir()
    (tmp_path / "baselines" / "README.md").write_text("ours\n")
    assert _init(tmp_path) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "suites" / "pytest.ini") in err and str(tmp_path / "baselines" / "README.md") in err
    assert "--force" in err and "Nothing was written" in err
    assert not (tmp_path / "suites" / "test_cold_start.py").exists()
    assert (tmp_path / "baselines" / "README.md").read_text() == "ours\n"

    assert _init(tmp_path, "--force") == 0
    assert "overwrote" in capsys.readouterr().out
    assert (tmp_path / "baselines" / "README.md").read_text() != "ours\n"


def test_init_is_idempotent(tmp_path, capsys):
    assert _init(tmp_path, "--suites", "cold_start,keyword_mass") == 0
    before = {p: p.read_text() for p in tmp_path.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert _init(tmp_path, "--suites", "cold_start,keyword_mass") == 0
    assert "nothing to do" in capsys.readouterr().out
    assert {p: p.read_text() for p in tmp_path.rglob("*") if p.is_file()} == before
    assert _init(tmp_path) == 0  # more suites later: only the new files are written
    assert (tmp_path / "suites" / "test_pass_at_k.py").is_file()


@pytest.mark.parametrize("args, fragment", [
    (["--suites", "cold_start,kw_mass"], "unknown suite(s) kw_mass; the ready-made suites are cold_start"),
    (["--model-pair", "onlyone"], "onlyone"),
])
def test_bad_options_exit_2_naming_the_culprit(tmp_path, args, fragment):
    proc = subprocess.run([sys.executable, "-m", "codeguard.cli.main", "init", str(tmp_path), *args],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and fragment in proc.stderr and "Traceback" not in proc.stderr
    assert not any(tmp_path.iterdir())


def test_a_file_where_the_folder_should_be_is_refused(tmp_path, capsys):
    (tmp_path / "suites").write_text("not a folder")
    assert _init(tmp_path) == 2
    assert "suites" in capsys.readouterr().err


def test_plan_is_pure_text():
    files = plan(["cold_start"])
    assert [str(f.path) for f in files] == ["suites/test_cold_start.py", "suites/pytest.ini", "baselines/README.md",
                                            ".github/workflows/codeguard.yml"]
