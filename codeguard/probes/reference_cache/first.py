"""The reference scored first, then freed: one model resident at a time for the distribution suites.

A gate that loads REF and OPT together needs memory for both (a 7 B reference in bfloat16 and its int8 candidate:
~21 GB of weights at once). Here REF loads alone, everything the distribution suites read from it is written to an
exact reference cache (its full logits over the corpus, so every metric is the live pair's, bit for bit), REF is
freed, and only then does OPT load: peak memory is about the larger of the two models. The price is disk (corpus
positions × vocabulary × 4 bytes, checked against free space before REF scores) and one pass of writing and reading
it. pass@k and the worst-case search need both models at once and are not served.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable

from codeguard.cache import cache_root
from codeguard.models.devices import release_memory
from codeguard.probes.reference_cache.build import build_reference_cache
from codeguard.probes.reference_cache.replay import ReferenceCache, load_reference_cache


def score_reference_first(load_reference: Callable[[], object], directory: str | Path, **build_options
                          ) -> ReferenceCache:
    """Loads the reference through `load_reference`, writes its exact cache to `directory`, frees it (the caller
    must hold no other reference to it) and returns the opened cache. `build_options` are
    `build_reference_cache`'s (configurations, corpus, registry)."""
    ref = load_reference()
    try:
        build_reference_cache(ref, directory, mode="exact", **build_options)
    finally:
        del ref
        release_memory()
    return load_reference_cache(directory, verify_files=False)  # written just now: hashed as it was written


def scratch_directory() -> Path:
    """A fresh folder for one run's cache under $CODEGUARD_CACHE/reference-first/ (the caller removes it)."""
    parent = cache_root() / "reference-first"
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=parent))
