"""A seeded worst-case search draws the same prefixes whatever modules the process imported before it.

hypothesis mixes literal constants of every loaded local module into what it draws; the worst-case search runs
with that pool emptied (codeguard/strategies/reproducible.py). These tests load a local module full of constants
between two seeded runs of the search's own strategy.
"""
import importlib
import sys

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings

from codeguard.strategies import prefix_batches
from codeguard.strategies.reproducible import independent_of_loaded_modules


def _seeded_draws(examples: int = 40) -> list:
    strategy = prefix_batches(["python", "go"], batch_size=4, max_tokens=24)
    drawn = []

    @seed(0)
    @settings(max_examples=examples, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(batch):
        drawn.append([(p.language, p.text) for p in batch])

    collect()
    return drawn


@pytest.fixture
def load_local_module_with_constants(tmp_path, monkeypatch):
    """Imports a module from outside site-packages (hypothesis counts it as local) holding many literals."""
    def load():
        # few enough that hypothesis keeps them all (it drops a module with too many)
        lines = [f"NAME_{i} = 'word{chr(97 + i)}'\nNUMBER_{i} = {1000 + 37 * i}" for i in range(20)]
        (tmp_path / "codeguard_extra_constants.py").write_text("\n".join(lines) + "\n")
        monkeypatch.syspath_prepend(str(tmp_path))
        importlib.import_module("codeguard_extra_constants")
    yield load
    sys.modules.pop("codeguard_extra_constants", None)


def test_the_search_draws_the_same_prefixes_before_and_after_other_modules_load(load_local_module_with_constants):
    with independent_of_loaded_modules():
        before = _seeded_draws()
    load_local_module_with_constants()
    with independent_of_loaded_modules():
        after = _seeded_draws()
    assert before == after


def _pool(monkeypatch, strings=(), integers=()):
    """Stands in for hypothesis' pool of local-module constants (which modules a long test run has loaded and
    dropped is out of a test's hands, so the pool is set directly)."""
    from hypothesis.internal.conjecture import providers
    from sortedcontainers import SortedSet
    pool = providers.Constants(integers=SortedSet(integers), floats=SortedSet(), bytes=SortedSet(),
                               strings=SortedSet(strings))
    monkeypatch.setattr(providers, "_get_local_constants", lambda: pool)
    providers.CONSTANTS_CACHE.cache.clear()


def test_without_the_guard_hypothesis_draws_depend_on_the_constant_pool(monkeypatch):
    """Why the guard exists: the same seed, a different pool of local constants, different draws."""
    with independent_of_loaded_modules() as neutralised:
        if not neutralised:
            pytest.skip("this hypothesis has no local-constant pool")
    _pool(monkeypatch)
    before = _seeded_draws()
    _pool(monkeypatch, strings=[f"word{chr(97 + i)}" for i in range(20)], integers=range(1000, 1740, 37))
    after = _seeded_draws()
    assert before != after
    with independent_of_loaded_modules():  # and with it, the pool makes no difference
        assert _seeded_draws() == before


def test_the_guard_restores_hypothesis_afterwards():
    from hypothesis.internal.conjecture import providers
    original = providers._get_local_constants
    with pytest.raises(RuntimeError):
        with independent_of_loaded_modules():
            assert providers._get_local_constants is not original
            raise RuntimeError("the search failed")
    assert providers._get_local_constants is original
