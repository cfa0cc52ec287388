"""Content fingerprints of model directories: sha256 over every file's relative path and bytes.

Hashing multi-GB weights takes seconds, so digests are memoised per (path, size, mtime) in the cache folder.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from codeguard.atomic_files import write_json_atomically
from codeguard.cache import cache_root
from codeguard.errors import ModelSpecError, OutputError

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


def _read_memo() -> dict:
    try:
        return json.loads(_memo_path().read_text())
    except (OSError, ValueError):
        return {}


def _write_memo(memo: dict) -> None:
    try:
        write_json_atomically(_memo_path(), memo, indent=0)
    except OutputError:
        pass  # a memo that cannot be written only costs the next run a re-hash


def _memoised_sha256(path: Path, memo: dict) -> str:
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    if key not in memo:
        memo[key] = file_sha256(path)
    return memo[key]


def directory_fingerprint(directory: Path) -> str:
    """sha256 of the directory's model files (names and contents), stable across machines and checkouts."""
    memo = _read_memo()
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(directory).rglob("*") if p.is_file()):
        if path.name in _IGNORED or "__pycache__" in path.parts:
            continue
        digest.update(path.relative_to(directory).as_posix().encode() + b"\0")
        digest.update(_memoised_sha256(path, memo).encode() + b"\n")
    _write_memo(memo)
    return "sha256:" + digest.hexdigest()


def file_fingerprint(path: Path) -> str:
    """sha256 of one model file's bytes (a .gguf), memoised like a directory's files."""
    memo = _read_memo()
    digest = _memoised_sha256(Path(path), memo)
    _write_memo(memo)
    return "sha256:" + digest


def derived_fingerprint(source_fingerprint: str, derivation: str, recipe_version: int) -> str:
    """Fingerprint of a derived model: determined by its source and the recipe, not by toolchain byte noise."""
    text = f"{source_fingerprint}|{derivation}|v{recipe_version}"
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def gguf_file_fingerprint(path: Path, spec_text: str) -> str:
    """The content fingerprint of a spec's .gguf file; a missing path or a folder is an error naming both."""
    if not path.exists():
        raise ModelSpecError(f"model spec {spec_text!r}: GGUF file {str(path)!r} does not exist")
    if not path.is_file():
        raise ModelSpecError(f"model spec {spec_text!r}: {str(path)!r} is not a file; a spec ending in .gguf names "
                             "one GGUF model file")
    return file_fingerprint(path)
