"""Shared fixtures: a fresh derivation cache per test session, and copies of zoo models to tamper with
(helper functions live in tests/helpers.py)."""
import shutil

import pytest

from codeguard.models.zoo import zoo_path


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
