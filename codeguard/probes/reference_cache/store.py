"""The reference cache on disk: a directory of manifest.json and numpy arrays (.npz/.npy, never pickles).

The manifest names what the numbers depend on (`keys`: the reference's fingerprint, the tokenizer's vocabulary, the
corpus content, the probe configuration, the reduction format and codeguard's version) and the size and SHA-256 of
every array file, so a cache for something else, or a partial or corrupt one, is refused by name before any number
of it is used.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from codeguard import __version__
from codeguard.atomic_files import json_text, write_text_atomically
from codeguard.errors import ReferenceCacheError

from codeguard.probes.reference_cache import KIND, MANIFEST

# Bump when what is stored, or how a probe reduces it, changes: an old cache is then refused, not misread.
REDUCTION_FORMAT = 2  # 2: top-K caches hold tokens drawn from ref's tail
# Files hashed while a re-gate reads them (RowFile), not before: their size is still checked when the cache opens.
HASHED_AS_READ = frozenset({"corpus_logits.npy"})
KEYS = ("reference", "tokenizer", "corpus", "config", "reduction_format", "codeguard_version")


def digest(data) -> str:
    """sha256 of `data` (bytes, or JSON-serialisable data in a canonical form)."""
    if not isinstance(data, bytes):
        data = json.dumps(data, sort_keys=True, ensure_ascii=False).encode()
    return "sha256:" + hashlib.sha256(data).hexdigest()


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            h.update(block)
    return "sha256:" + h.hexdigest()


@dataclass
class Manifest:
    keys: dict                       # KEYS -> value; what the cache is valid for
    reference: dict                  # spec, fingerprint, backend, max_context, output_width
    mode: str                        # "exact" (ref's full logits) or "top-k"
    start_ids: list[int]
    start_source: str
    positions: int                   # scored corpus positions
    top_k: dict = field(default_factory=dict)       # mass, k, tail_samples, seed (top-k mode)
    probes: dict = field(default_factory=dict)      # per probe: what it keeps in the manifest itself
    files: dict = field(default_factory=dict)       # file name -> {bytes, sha256}

    def to_json(self) -> dict:
        return {"kind": KIND, **self.__dict__}


def write_manifest(directory: Path, manifest: Manifest) -> None:
    """Records size and digest of every array file not yet recorded, then writes the manifest last: a directory
    without one (a build that died) is never taken for a cache."""
    for name, entry in list(manifest.files.items()):
        if not entry:  # else hashed as it was written (RowWriter)
            path = directory / name
            manifest.files[name] = {"bytes": path.stat().st_size, "sha256": file_digest(path)}
    write_text_atomically(directory / MANIFEST, json_text(manifest.to_json()))


def read_manifest(directory: Path, verify_files: bool = True) -> Manifest:
    """Reads and checks a cache directory: a clear error for a missing, partial, corrupt or foreign one."""
    path = Path(directory) / MANIFEST
    if not Path(directory).is_dir():
        raise ReferenceCacheError(f"reference cache {directory}: no such directory; build one with "
                                  "`codeguard reference-cache REF --out DIR`")
    if not path.is_file():
        raise ReferenceCacheError(f"reference cache {directory}: no {MANIFEST} (not a reference cache, or its build "
                                  "did not finish); build it again with `codeguard reference-cache REF --out DIR`")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise ReferenceCacheError(f"{path}: not valid JSON ({error}); the cache is corrupt, build it again") from None
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise ReferenceCacheError(f"{path}: not a codeguard reference cache manifest (kind {data.get('kind')!r} "
                                  f"where {KIND!r} was expected)" if isinstance(data, dict) else
                                  f"{path}: not a codeguard reference cache manifest")
    data.pop("kind")
    try:
        manifest = Manifest(**data)
    except TypeError as error:
        raise ReferenceCacheError(f"{path}: malformed manifest ({error}); build the cache again") from None
    missing = [k for k in KEYS if k not in manifest.keys]
    if missing:
        raise ReferenceCacheError(f"{path}: manifest lacks key(s) {', '.join(missing)}; build the cache again")
    if manifest.keys["reduction_format"] != REDUCTION_FORMAT:
        raise ReferenceCacheError(
            f"{path}: key reduction_format: the cache was built with reduction format "
            f"{manifest.keys['reduction_format']} (codeguard {manifest.keys['codeguard_version']}), this codeguard "
            f"{__version__} reads format {REDUCTION_FORMAT}; build the cache again with this version")
    if manifest.keys["codeguard_version"] != __version__:
        raise ReferenceCacheError(
            f"{path}: key codeguard_version: the cache was built by codeguard {manifest.keys['codeguard_version']}, "
            f"this is {__version__}; build the cache again with this version")
    if verify_files:
        for name, expected in manifest.files.items():
            _verify_file(Path(directory) / name, expected, hash_now=name not in HASHED_AS_READ)
    return manifest


def _verify_file(path: Path, expected: dict, hash_now: bool = True) -> None:
    if not path.is_file():
        raise ReferenceCacheError(f"reference cache file {path} is missing (the manifest lists it); the cache is "
                                  "partial: copy the whole directory or build it again")
    size = path.stat().st_size
    if size != expected.get("bytes"):
        raise ReferenceCacheError(f"reference cache file {path} has {size} bytes, the manifest says "
                                  f"{expected.get('bytes')}; the cache is partial or corrupt: build it again")
    if hash_now and file_digest(path) != expected.get("sha256"):
        raise ReferenceCacheError(_corrupt(path))


def _corrupt(path: Path) -> str:
    return (f"reference cache file {path} does not match its SHA-256 in the manifest; the cache is corrupt: build it "
            "again")


def require_key(directory: Path, manifest: Manifest, key: str, expected, what: str) -> None:
    """Refuses the cache when its `key` differs from this run's, naming the file, the key and both values."""
    stored = manifest.keys[key]
    if stored != expected:
        raise ReferenceCacheError(
            f"reference cache {Path(directory) / MANIFEST}: key {key} does not match: the cache was built for "
            f"{_short(stored)}, this run has {_short(expected)} ({what}); build the cache for this run with "
            "`codeguard reference-cache`")


def _short(value) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= 300 else text[:300] + "…"


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    np.savez(path, **arrays)


def load_arrays(path: Path, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The named arrays of an .npz file (pickles refused), each checked present."""
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [n for n in names if n not in data.files]
            if missing:
                raise ReferenceCacheError(f"reference cache file {path} lacks array(s) {', '.join(missing)}; build "
                                          "the cache again")
            return {n: data[n] for n in names}
    except (OSError, ValueError) as error:
        raise ReferenceCacheError(f"reference cache file {path} cannot be read ({error}); build it again") from None


class RowFile:
    """Rows of a 2-D float32 .npy file, read window by window with plain reads (no memory map: a re-gate's peak
    memory must not grow with the file).

    Given the file's SHA-256, it hashes what it reads, in order, and `verify()` checks it once the rows are read (it
    hashes any rest first): an exact cache's logits are gigabytes (9.4 GiB for 16.6 k positions at 152 k), and
    hashing them in a pass of their own before the re-gate read them again made a GPU re-gate slower than scoring
    the reference live (bench/RESULTS.md)."""

    def __init__(self, path: Path, rows: int, width: int, sha256: str | None = None):
        self.path, self.rows, self.expected = path, rows, sha256
        self.hash, self.hashed_rows = (hashlib.sha256(), 0) if sha256 else (None, 0)
        try:
            with open(path, "rb") as handle:
                version = np.lib.format.read_magic(handle)
                header = {(1, 0): np.lib.format.read_array_header_1_0,
                          (2, 0): np.lib.format.read_array_header_2_0}.get(version)
                if header is None:
                    raise ValueError(f"unsupported .npy version {version}")
                shape, fortran, dtype = header(handle)
                self.offset = handle.tell()
        except (OSError, ValueError) as error:
            raise ReferenceCacheError(f"reference cache file {path} is not a .npy array ({error})") from None
        if shape != (rows, width) or fortran or dtype != np.dtype("<f4"):
            raise ReferenceCacheError(f"reference cache file {path} holds {dtype} {shape}, the manifest needs "
                                      f"float32 ({rows}, {width}); build the cache again")
        self.width = width
        self.handle = open(path, "rb")
        if self.hash is not None:
            self.hash.update(self.handle.read(self.offset))

    def read(self, start: int, stop: int) -> np.ndarray:
        self.handle.seek(self.offset + start * self.width * 4)
        block = np.fromfile(self.handle, dtype="<f4", count=(stop - start) * self.width).reshape(stop - start,
                                                                                                 self.width)
        if self.hash is not None and start == self.hashed_rows:
            self.hash.update(memoryview(block).cast("B"))
            self.hashed_rows = start + block.shape[0]
        return block

    def verify(self) -> None:
        """Raises ReferenceCacheError unless the file's bytes match the SHA-256 it was opened with."""
        if self.hash is None:
            return
        self.handle.seek(self.offset + self.hashed_rows * self.width * 4)
        for chunk in iter(lambda: self.handle.read(1 << 22), b""):
            self.hash.update(chunk)
        self.hashed_rows = self.rows
        if "sha256:" + self.hash.hexdigest() != self.expected:
            raise ReferenceCacheError(_corrupt(self.path))

    def close(self) -> None:
        self.handle.close()


class RowWriter:
    """Writes a (rows, width) float32 .npy file row block by row block, hashing the bytes as they go out.

    `close()` returns the file's size and SHA-256 for the manifest: hashing a written exact cache in a pass of its own
    read gigabytes back (1.5 GB for the llama.cpp parity bench's reference, 9.4 GiB for 16.6 k positions at 152 k)."""

    def __init__(self, path: Path, rows: int, width: int):
        self.handle = open(path, "wb")
        self.hash = hashlib.sha256()
        np.lib.format.write_array_header_1_0(self, {"descr": "<f4", "fortran_order": False, "shape": (rows, width)})
        self.expected, self.written = rows, 0

    def write(self, block) -> None:
        """Appends rows (numpy's write_array_header_1_0 also writes the header through here)."""
        data = memoryview(np.ascontiguousarray(block, dtype="<f4") if isinstance(block, np.ndarray) else block)
        self.hash.update(data)
        self.handle.write(data)
        if isinstance(block, np.ndarray):
            self.written += block.shape[0]

    def close(self) -> dict:
        """Closes the file; its manifest entry ({bytes, sha256}) from what was written."""
        size = self.handle.tell()
        self.handle.close()
        assert self.written == self.expected, (self.written, self.expected)
        return {"bytes": size, "sha256": "sha256:" + self.hash.hexdigest()}

    def abandon(self) -> None:
        """Closes a file whose rows will not all come (scoring failed); its folder is discarded by the caller."""
        self.handle.close()
