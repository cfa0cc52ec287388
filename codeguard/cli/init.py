"""`codeguard init [DIR]`: scaffold the gate into a project: suites/, baselines/ and a GitHub Actions workflow.

The suite files it writes are thin: each imports its ready-made test from the installed package
(`codeguard.suites`), so a codeguard upgrade reaches the user's gate without re-scaffolding, while the files stay in
their repository to delete, or to sit beside tests of their own. Existing files are never overwritten unless
`--force`; a file that already holds what init would write is left alone, so running init again changes nothing.
"""
from __future__ import annotations

import argparse
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from codeguard import __version__
from codeguard.atomic_files import write_text_atomically
from codeguard.cli.arguments import split_list
from codeguard.errors import ConfigError
from codeguard.models.specs import parse_model_pair

TEMPLATES = Path(__file__).resolve().parents[1] / "data" / "init"
# The ready-made suites, in the order a run reports them; each is suites/test_<name>.py in the package.
SUITES = ("cold_start", "keyword_mass", "corpus_kld", "keyword_shift", "worst_case", "pass_at_k")
TORCH = "2.13.0"  # the torch the workflow pins (the README's set-up pins the same)
PLACEHOLDER_PAIR = "./models/reference,./models/candidate"


@dataclass(frozen=True)
class Planned:
    path: Path   # relative to the project folder
    text: str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declares the subcommand's options (the parser is made by `codeguard.cli.main`)."""
    parser.add_argument("dir", nargs="?", default=".", type=Path, help="the project folder (default: the current one)")
    parser.add_argument("--model-pair", metavar="REF,OPT", default=None,
                        help=f"the pair the CI workflow gates (default {PLACEHOLDER_PAIR}: edit it there)")
    parser.add_argument("--suites", metavar="LIST", default=None,
                        help=f"comma-separated ready-made suites to scaffold (default: all of {', '.join(SUITES)})")
    parser.add_argument("--force", action="store_true", help="overwrite existing files that differ")


def run(args) -> int:
    project = Path(args.dir)
    planned = plan(split_list(args.suites), args.model_pair)
    created, overwritten, unchanged = scaffold(project, planned, force=args.force)
    for path in created:
        print(f"codeguard init: created {project / path}")
    for path in overwritten:
        print(f"codeguard init: overwrote {project / path}")
    if unchanged and not (created or overwritten):
        print(f"codeguard init: {project} already holds the scaffold ({len(unchanged)} files); nothing to do")
    if importlib.util.find_spec("codeguard.suites") is None:
        print("codeguard init: warning: codeguard.suites is not importable here (codeguard run from a source "
              "folder?); the suite files need an installed codeguard: pip install codeguard")
    pair = args.model_pair or PLACEHOLDER_PAIR
    print(f"\nNext, from {project}:\n  pytest suites --model-pair {pair}\n"
          "The first run fails (no baseline yet): it prints the candidate's metrics and the command that accepts\n"
          "them (the same command plus --codeguard-update). Review and commit baselines/;\n"
          ".github/workflows/codeguard.yml gates every pull request.")
    return 0


def plan(suites: list[str] | None = None, model_pair: str | None = None) -> list[Planned]:
    """What init writes, file by file (paths relative to the project)."""
    suites = list(suites or SUITES)
    unknown = [name for name in suites if name not in SUITES]
    if unknown:
        raise ConfigError(f"--suites: unknown suite(s) {', '.join(unknown)}; the ready-made suites are "
                          f"{', '.join(SUITES)}")
    if model_pair:
        parse_model_pair(model_pair)  # a malformed pair is refused here, not in the first CI run
    reference, candidate = (model_pair or PLACEHOLDER_PAIR).split(",", 1)
    suite_text = _template("suite.py.template")
    files = [Planned(Path("suites") / f"test_{name}.py", suite_text.replace("@SUITE@", name)) for name in suites]
    files.append(Planned(Path("suites") / "pytest.ini", _template("pytest.ini.template")))
    files.append(Planned(Path("baselines") / "README.md", _template("baselines-README.md.template")))
    workflow = (_template("codeguard.yml.template").replace("@REFERENCE@", reference.strip())
                .replace("@CANDIDATE@", candidate.strip()).replace("@TORCH@", TORCH)
                .replace("@VERSION@", __version__))
    files.append(Planned(Path(".github") / "workflows" / "codeguard.yml", workflow))
    return files


def scaffold(project: Path, planned: list[Planned], force: bool = False) -> tuple[list[Path], list[Path], list[Path]]:
    """Writes the planned files into `project`: (created, overwritten, unchanged). Refuses, writing nothing, when a
    file exists with other content and `force` is not set, naming every such file."""
    if project.exists() and not project.is_dir():
        raise ConfigError(f"codeguard init: {project} is not a folder")
    created, differing, unchanged = [], [], []
    for item in planned:
        target = project / item.path
        if target.is_dir():
            raise ConfigError(f"codeguard init: {target} is a folder where init writes a file; move it aside")
        if not target.exists():
            created.append(item)
        elif target.read_text(errors="replace") == item.text:
            unchanged.append(item.path)
        else:
            differing.append(item)
    if differing and not force:
        names = ", ".join(str(project / item.path) for item in differing)
        raise ConfigError(f"codeguard init: these files exist and differ from what init writes: {names}. Nothing "
                          "was written; move them aside, or run again with --force to overwrite them")
    for item in created + differing:
        write_text_atomically(project / item.path, item.text)
    return [item.path for item in created], [item.path for item in differing], unchanged


def _template(name: str) -> str:
    return (TEMPLATES / name).read_text()
