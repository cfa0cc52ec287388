"""Content fingerprints of model directories: sha256 over every file's relative path and bytes.

Hashing multi-GB weights takes seconds, so digests are memoised per (path, size, mtime) in the cache folder.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from codeguard.cache import cache_root

# Files that describe a model but do not change what it computes.
_IGNORED = {"recipe.json", "README.md", "codeguard-derivation.json", ".gitattributes"}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _memo_path() -> Path:
    return cache_root() / "file-digests.json"


def _memoised_sha256(path: Path, memo: dict) -> str:
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    if key not in memo:
        memo[key] = file_sha256(path)
    return memo[key]


def directory_fingerprint(directory: Path) -> str:
    """sha256 of the directory's model files (names and contents), stable across machines and checkouts."""
    memo_file = _memo_path()
    try:
        memo = json.loads(memo_file.read_text())
    except (OSError, ValueError):
        memo = {}
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(directory).rglob("*") if p.is_file()):
        if path.name in _IGNORED or "__pycache__" in path.parts:
            continue
        digest.update(path.relative_to(directory).as_posix().encode() + b"\0")
        digest.update(_memoised_sha256(path, memo).encode() + b"\n")
    tmp = memo_file.with_suffix(f".{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(memo))
        os.replace(tmp, memo_file)
    except OSError:
        pass
    return "sha256:" + digest.hexdigest()


def derived_fingerprint(source_fingerprint: str, derivation: str, recipe_version: int) -> str:
    """Fingerprint of a derived model: determined by its source and the recipe, not by toolchain byte noise."""
    text = f"{source_fingerprint}|{derivation}|v{recipe_version}"
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
