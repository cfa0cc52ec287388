"""Reference caches kept automatically (`--codeguard-reference-cache auto`): one folder per reference, placement,
corpus and probe configuration under $CODEGUARD_CACHE/reference-caches/, so that a re-gate of the same reference
loads only the candidate.

An automatic cache is always exact (ref's float32 logits over the corpus): a gate must give the same verdicts whether
or not a cache happened to be there, and only exact mode gives every metric bit for bit (a top-K cache is a fraction
of the size, with its KL statistics flagged: one a user builds on purpose with `codeguard reference-cache`). Exact
costs disk, corpus positions x vocabulary x 4 bytes (1.7 GB for the zoo over the shipped corpus at ctx 256), so the
folder is held to a budget, $CODEGUARD_REFERENCE_CACHE_GB (default 8 GiB): after each new cache the least recently
used others are removed until the total fits, and a cache larger than the whole budget is used once and not kept.
"""
from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from codeguard import __version__
from codeguard.cache import cache_root
from codeguard.errors import ConfigError, ReferenceCacheError
from codeguard.probes.reference_cache import MANIFEST, is_reference_cache
from codeguard.probes.reference_cache.store import REDUCTION_FORMAT, digest

BUDGET_VARIABLE = "CODEGUARD_REFERENCE_CACHE_GB"
DEFAULT_BUDGET_GIB = 8.0
BUILDING = ".building-"       # a cache being written; never served, removed when a crashed run left it a day ago
STALE_BUILD_SECONDS = 24 * 3600


@dataclass
class AutoCache:
    """The reference cache a run uses, and how it came to be."""

    cache: object   # the opened ReferenceCache
    path: Path      # its folder: under reference-caches/, or (not kept) a build folder the caller removes
    found: bool     # an earlier run's: the reference was not loaded
    kept: bool      # stays for later runs
    size: int       # bytes on disk
    budget: int     # bytes, from $CODEGUARD_REFERENCE_CACHE_GB


def open_or_build(ref_spec, placement: str, load_reference: Callable[[], object], build_options: dict) -> AutoCache:
    """This reference's cache when an earlier run kept one (the reference is not loaded), else the reference loads
    alone through `load_reference`, scores into a new exact cache and is freed (reference_cache.first). Only the
    weights' fingerprint is read to find the cache. `build_options` are build_reference_cache's configurations,
    corpus and registry; `placement` is the device and dtype the reference runs in."""
    # heavy (torch, numpy): imported here so that options can check the budget without them
    from codeguard.models.resolve import materialize
    from codeguard.probes.reference_cache.first import score_reference_first
    from codeguard.probes.reference_cache.keys import config_key, corpus_digest
    from codeguard.probes.reference_cache.replay import load_reference_cache
    _, kind, fingerprint = materialize(ref_spec)
    corpus_config = build_options["corpus_config"]
    directory = auto_directory(
        {"spec": ref_spec.text, "fingerprint": fingerprint, "kind": kind}, placement,
        corpus_digest(build_options["corpus"]),
        config_key(corpus_config.key(), build_options["cold_start"], build_options["keyword_mass"],
                   build_options["registry"]))
    budget = budget_bytes()
    cache = cached(directory)
    if cache is not None:
        return AutoCache(cache, directory, True, True, folder_size(directory), budget)
    path, kept = store(lambda folder: score_reference_first(load_reference, folder, **build_options), directory,
                       budget)
    return AutoCache(load_reference_cache(path, verify_files=False), path, False, kept, folder_size(path), budget)


def auto_root() -> Path:
    return cache_root() / "reference-caches"


def auto_directory(reference: dict, placement: str, corpus_digest: str, config: dict) -> Path:
    """The folder of the cache for this reference (spec, weights fingerprint, backend kind), the device and dtype it
    runs in (a GPU's bfloat16 logits are not the CPU's float32 ones), the corpus content and the probe settings."""
    key = digest({"reference": reference, "placement": placement, "corpus": corpus_digest, "config": config,
                  "reduction_format": REDUCTION_FORMAT, "codeguard_version": __version__})
    return auto_root() / key.split(":")[-1][:32]


def budget_bytes() -> int:
    """$CODEGUARD_REFERENCE_CACHE_GB in bytes (GiB; 0 keeps nothing); anything else is an error naming it."""
    text = os.environ.get(BUDGET_VARIABLE, "").strip()
    if not text:
        return int(DEFAULT_BUDGET_GIB * 2**30)
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise ConfigError(f"{BUDGET_VARIABLE}={text!r}: expected a size in GiB, 0 or more (e.g. 8 or 0.5)")
    return int(value * 2**30)


def cached(directory: Path):
    """The complete, verified cache in `directory`, marked as just used; None when there is none. A partial or
    corrupt one is removed (it is codeguard's own, rebuilt by the caller)."""
    from codeguard.probes.reference_cache.replay import load_reference_cache  # heavy: numpy, torch
    if not is_reference_cache(directory):
        return None
    try:
        cache = load_reference_cache(directory)
    except ReferenceCacheError:
        shutil.rmtree(directory, ignore_errors=True)
        return None
    os.utime(directory / MANIFEST)  # least recently used goes first
    return cache


def store(write: Callable[[Path], object], directory: Path, budget: int) -> tuple[Path, bool]:
    """Runs `write(folder)` into a fresh folder beside `directory`, moves it into place and trims the other caches
    to the budget. Returns (where the cache is, kept). A cache over the whole budget stays where it was written,
    not kept: the caller uses it and removes it. Another run that put a cache in place first wins (same key, same
    content); ours is dropped."""
    root = directory.parent
    root.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=BUILDING, dir=root))
    try:
        write(building)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    if folder_size(building) > budget:
        return building, False
    try:
        building.rename(directory)
    except OSError:  # a concurrent run (an xdist worker, another job) was first
        shutil.rmtree(building, ignore_errors=True)
        if not is_reference_cache(directory):
            raise
    prune(root, budget, keep=directory)
    return directory, True


def prune(root: Path, budget: int, keep: Path | None = None) -> list[Path]:
    """Removes the least recently used caches under `root` until the rest fit in `budget` bytes (`keep` is counted
    first and never removed), and builds a crashed run left behind a day ago. Returns what was removed."""
    removed = []
    now = time.time()
    caches = []
    for folder in root.iterdir() if root.is_dir() else ():
        if folder.name.startswith(BUILDING):
            if now - folder.stat().st_mtime > STALE_BUILD_SECONDS:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
        elif folder.is_dir() and folder != keep and is_reference_cache(folder):
            caches.append(((folder / MANIFEST).stat().st_mtime, folder))
    total = folder_size(keep) if keep is not None and keep.is_dir() else 0
    for _, folder in sorted(caches, reverse=True):  # most recently used first
        size = folder_size(folder)
        if total + size <= budget:
            total += size
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def folder_size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
