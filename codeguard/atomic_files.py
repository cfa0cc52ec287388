"""The one place codeguard writes files: whole or not at all (temp file + rename), JSON in one format.

Baselines, results, reports, study files and CLI JSON all go through here, so a reader (a reviewer's diff, a
dashboard, another xdist worker) never sees half a file, and every JSON file has the same layout.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from codeguard.errors import OutputError


def json_text(data, *, indent: int = 2, sort_keys: bool = True) -> str:
    """`data` as JSON text with a trailing newline. Non-finite floats are written as NaN / Infinity (Python's json
    reads them back), never silently turned into something else; non-ASCII text stays readable."""
    return json.dumps(data, indent=indent, sort_keys=sort_keys, ensure_ascii=False, allow_nan=True) + "\n"


def write_text_atomically(path: Path, text: str) -> Path:
    """Writes `text` to `path` whole or not at all; parent folders are created. The file gets the permissions a
    plain `open(path, "w")` would (umask applied), not the temp file's 0600: reports are read by others."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error}; choose a writable location") from None
    return path


def write_json_atomically(path: Path, data, *, indent: int = 2, sort_keys: bool = True) -> Path:
    return write_text_atomically(path, json_text(data, indent=indent, sort_keys=sort_keys))


def write_output(target: str | Path, text: str) -> None:
    """Writes to a file atomically, or to standard output when `target` is '-' (the CLI's convention)."""
    if str(target) == "-":
        sys.stdout.write(text)
    else:
        write_text_atomically(Path(target), text)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
