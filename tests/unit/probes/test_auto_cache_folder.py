"""The automatic reference caches' folder: keys, the disk budget (least recently used removed first), moving a
finished cache into place (a concurrent run's first copy wins), and the budget variable's parsing."""
import json
import os
import time

import pytest

from codeguard.errors import ConfigError
from codeguard.probes.reference_cache import KIND, MANIFEST
from codeguard.probes.reference_cache.auto import (BUILDING, auto_directory, budget_bytes, folder_size, prune,
                                                   store)

MIB = 1 << 20


def _fake_cache(folder, size: int, used: float | None = None):
    """A folder that is_reference_cache() accepts, holding `size` bytes of data, last used at `used`."""
    folder.mkdir(parents=True)
    (folder / MANIFEST).write_text(json.dumps({"kind": KIND}))
    (folder / "corpus_logits.npy").write_bytes(b"\0" * size)
    if used is not None:
        os.utime(folder / MANIFEST, (used, used))
    return folder


def test_the_least_recently_used_caches_go_first_until_the_rest_fit(tmp_path):
    now = time.time()
    old, middle, recent = (_fake_cache(tmp_path / name, 3 * MIB, now - age)
                           for name, age in (("old", 300), ("middle", 200), ("recent", 100)))
    new = _fake_cache(tmp_path / "new", 3 * MIB)
    removed = prune(tmp_path, budget=10 * MIB, keep=new)
    assert removed == [old] and not old.exists()
    assert new.exists() and recent.exists() and middle.exists()
    assert prune(tmp_path, budget=10 * MIB, keep=new) == []  # within budget: nothing more goes
    assert set(prune(tmp_path, budget=0, keep=new)) == {middle, recent} and new.exists()  # `keep` always stays


def test_prune_leaves_other_folders_and_fresh_builds_alone_and_removes_stale_builds(tmp_path):
    stranger = tmp_path / "not-a-cache"
    stranger.mkdir()
    (stranger / "data").write_bytes(b"\0" * MIB)
    fresh, stale = tmp_path / f"{BUILDING}fresh", tmp_path / f"{BUILDING}stale"
    fresh.mkdir(), stale.mkdir()
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(stale, (two_days_ago, two_days_ago))
    assert prune(tmp_path, budget=0) == [stale]
    assert stranger.exists() and fresh.exists()


def test_store_moves_a_finished_cache_into_place_and_refuses_none_over_budget(tmp_path):
    target = tmp_path / "root" / "key"
    path, kept = store(lambda folder: _fake_cache_in(folder, MIB), target, budget=2 * MIB)
    assert (path, kept) == (target, True) and (target / MANIFEST).is_file()
    assert [p.name for p in target.parent.iterdir()] == ["key"]  # no build folder left

    other = tmp_path / "root" / "other"
    path, kept = store(lambda folder: _fake_cache_in(folder, 3 * MIB), other, budget=2 * MIB)
    assert not kept and path.name.startswith(BUILDING) and folder_size(path) >= 3 * MIB  # the caller's to use
    assert not other.exists() and target.exists()


def test_a_concurrent_run_that_stored_first_wins(tmp_path):
    target = tmp_path / "root" / "key"

    def write(folder):  # another run finishes first while this one writes
        _fake_cache(target, MIB)
        _fake_cache_in(folder, 2 * MIB)

    path, kept = store(write, target, budget=8 * MIB)
    assert (path, kept) == (target, True) and folder_size(target) < 2 * MIB  # the first one stays
    assert [p.name for p in target.parent.iterdir()] == ["key"]


def test_a_failed_build_leaves_nothing_behind(tmp_path):
    def write(folder):
        (folder / "partial").write_bytes(b"\0")
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError):
        store(write, tmp_path / "root" / "key", budget=MIB)
    assert list((tmp_path / "root").iterdir()) == []


def test_the_key_changes_with_every_input(tmp_path, monkeypatch):
    monkeypatch.setenv("CODEGUARD_CACHE", str(tmp_path))
    base = ({"spec": "zoo:tiny-code", "fingerprint": "f1", "kind": "torch"}, "cpu", "c1", {"corpus": {"ctx": 32}})
    directory = auto_directory(*base)
    assert directory.parent == tmp_path / "reference-caches" and ":" not in directory.name
    assert directory == auto_directory(*base)
    variants = [({**base[0], "fingerprint": "f2"},) + base[1:], (base[0], "cuda:0", *base[2:]),
                base[:2] + ("c2", base[3]), base[:3] + ({"corpus": {"ctx": 24}},)]
    assert len({auto_directory(*v) for v in variants} | {directory}) == 5


@pytest.mark.parametrize("text, expected", [("", 8 << 30), ("0", 0), ("0.5", 1 << 29), (" 2 ", 2 << 30)])
def test_the_budget_is_gib_from_the_environment(monkeypatch, text, expected):
    monkeypatch.setenv("CODEGUARD_REFERENCE_CACHE_GB", text)
    assert budget_bytes() == expected


@pytest.mark.parametrize("text", ["lots", "-1", "nan", "inf"])
def test_a_bad_budget_names_the_variable(monkeypatch, text):
    monkeypatch.setenv("CODEGUARD_REFERENCE_CACHE_GB", text)
    with pytest.raises(ConfigError, match=r"^CODEGUARD_REFERENCE_CACHE_GB="):
        budget_bytes()


def _fake_cache_in(folder, size: int):
    (folder / MANIFEST).write_text(json.dumps({"kind": KIND}))
    (folder / "corpus_logits.npy").write_bytes(b"\0" * size)


def test_pass_at_k_and_worst_case_get_the_live_reference_loaded_once_beside_a_cache(monkeypatch, tmp_path):
    """Under auto the distribution suites read a cache; the suites that run REF itself load it on first need."""
    import codeguard.models.loading as loading
    from codeguard.models.devices import resolve_placement
    from codeguard.plugin.options import Options
    from codeguard.plugin.session import CodeguardSession, ModelPair
    loads = []
    monkeypatch.setattr(loading, "load_model", lambda spec, device=None: loads.append(spec.text) or f"live {spec}")
    options = Options(model_pair="zoo:tiny-code,zoo:tiny-code@int4-rtn", baseline_dir=tmp_path, slot=None,
                      limits={}, update=False, seed=0, start_token=None, rollouts=0, invocation=[],
                      placement=resolve_placement("cpu"), reference_cache_auto=True)
    session = CodeguardSession(options)
    session._pair = ModelPair("a cache", "opt", cached=True)
    first, second = session.live_pair("pass_at_k"), session.live_pair("worst_case")
    assert loads == ["zoo:tiny-code"] and first.ref == second.ref and first.opt == "opt" and not first.cached
    assert session.model_pair().ref == "a cache"  # the distribution suites keep reading the cache
