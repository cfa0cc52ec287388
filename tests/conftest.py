"""Shared fixtures: a fresh derivation cache per test session, and copies of zoo models to tamper with."""
import json
import shutil
from pathlib import Path

import pytest

from codeguard.zoo import zoo_path

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def fresh_codeguard_cache(tmp_path_factory):
    """Derived models are built by the tests themselves, not taken from a developer's cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("CODEGUARD_CACHE", str(tmp_path_factory.mktemp("codeguard-cache")))
    mp.setenv("HF_HUB_OFFLINE", "1")
    mp.delenv("GITHUB_STEP_SUMMARY", raising=False)  # our pytester runs must not write into a real CI summary
    yield
    mp.undo()


@pytest.fixture
def zoo_copy(tmp_path):
    """A writable copy of zoo:tiny-code as a plain transformers directory."""
    target = tmp_path / "tiny-code-copy"
    shutil.copytree(zoo_path("tiny-code"), target)
    return target


def set_bos(model_dir: Path, token: str) -> None:
    config_path = model_dir / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["bos_token"] = token
    config_path.write_text(json.dumps(config))


def write_suite(pytester) -> None:
    pytester.makepyfile(test_cold_start=(REPO / "suites" / "test_cold_start.py").read_text())
