"""Where derived models and fingerprints are cached: `$CODEGUARD_CACHE`, else `~/.cache/codeguard`."""
from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    root = os.environ.get("CODEGUARD_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "codeguard")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path
