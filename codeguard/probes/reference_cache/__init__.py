"""The reference scored once: what the distribution probes need from the reference model, stored in a directory, so
that a re-gate loads only the optimized model (`build.build_reference_cache`, then `replay.load_reference_cache`).

This module imports nothing heavy: the pytest plugin asks it whether a --model-pair REF is a cache directory.
"""
from __future__ import annotations

import json
from pathlib import Path

MANIFEST = "manifest.json"
KIND = "codeguard-reference-cache"
BACKEND = "reference-cache"  # in a cached result's ref backend ("torch via reference-cache (top-k)")
# The suites a cache serves; the others (pass@k, the worst-case search) need the live reference.
CACHED_PROBES = ("cold-start", "keyword-mass", "corpus-kld", "keyword-shift")


def is_reference_cache(path: str | Path) -> bool:
    """True when `path` is a directory whose manifest.json says it is a reference cache."""
    manifest = Path(path) / MANIFEST
    try:
        return manifest.is_file() and json.loads(manifest.read_text(encoding="utf-8")).get("kind") == KIND
    except (OSError, ValueError, AttributeError):
        return False
