"""Real tokenizers of 19 LLMs, as llama.cpp's vocab-only GGUF files and their tokenization test vectors.

llama.cpp ships them in `models/ggml-vocab-*.gguf` with `.inp`/`.out` vectors it checks itself against; the
llama-cpp-python sdist on PyPI carries that folder, so one pinned download through pip gives real vocabularies with
ground truth and no model weights. Files are cached in `<cache>/llama-vocabs/<version>/`.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from codeguard.cache import cache_root
from codeguard.errors import TokenizerError

LLAMA_CPP_PYTHON_VERSION = "0.3.36"
_SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"  # as published on PyPI
_MEMBER_DIR = f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}/vendor/llama.cpp/models"
_PREFIX = "ggml-vocab-"
_VECTOR_SEPARATOR = "\n__ggml_vocab_test__\n"


def llama_vocab_dir() -> Path:
    """The folder holding every `ggml-vocab-*` file, downloaded and extracted on first use."""
    target = cache_root() / "llama-vocabs" / LLAMA_CPP_PYTHON_VERSION
    if not target.is_dir():
        _fetch_into(target)
    return target


def vocab_files() -> dict[str, Path]:
    """Each vocabulary's GGUF file by name ("gpt-2", "llama-spm", "starcoder", ...), sorted by name."""
    files = sorted(llama_vocab_dir().glob(f"{_PREFIX}*.gguf"))
    return {path.name[len(_PREFIX):-len(".gguf")]: path for path in files}


def test_vectors(name: str) -> list[tuple[str, list[int]]]:
    """llama.cpp's (text, expected ids) pairs for one vocabulary; [] for the four that ship none.

    The ids are what llama.cpp produces without BOS and without parsing special tokens. Parsing follows
    llama.cpp's tests/test-tokenizer-0.cpp: a trailing separator ends the list, it does not add an empty text.
    """
    files = vocab_files()
    if name not in files:
        raise TokenizerError(f"no llama.cpp vocabulary named {name!r}; known: {', '.join(files)}")
    inp = files[name].with_name(files[name].name + ".inp")
    out = files[name].with_name(files[name].name + ".out")
    if not inp.exists():
        return []
    texts = _split_inputs(inp.read_bytes().decode("utf-8"))
    ids = [[int(tok) for tok in line.split()] for line in out.read_bytes().decode("utf-8").split("\n")]
    if len(ids) == len(texts) + 1 and not ids[-1]:
        ids.pop()  # the final newline of the .out file
    if len(ids) != len(texts):
        raise TokenizerError(f"{inp} has {len(texts)} texts but {out} has {len(ids)} lines of ids")
    return list(zip(texts, ids))


def _split_inputs(raw: str) -> list[str]:
    """Split a `.inp` file exactly as llama.cpp's test does."""
    texts, pos = [], 0
    while pos < len(raw):
        end = raw.find(_VECTOR_SEPARATOR, pos)
        if end < 0:
            texts.append(raw[pos:])
            break
        texts.append(raw[pos:end])
        pos = end + len(_VECTOR_SEPARATOR)
    return texts


def _fetch_into(target: Path) -> None:
    """Download the sdist, extract the vocab files next to `target`, then rename into place.

    The rename is the commit point: a crash or a concurrent run never leaves a half-filled `target`, and the
    76 MB sdist is deleted with the temporary folder.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as tmp:
        staging = Path(tmp) / "vocabs"
        staging.mkdir()
        _extract_vocabs(download_sdist(Path(tmp), target), staging)
        try:
            os.rename(staging, target)
        except OSError:
            if not target.is_dir():  # not a lost race with another process: a real failure
                raise


def download_sdist(folder: Path, target: Path) -> Path:
    """`pip download` the pinned llama-cpp-python sdist into `folder`, check its hash, and return its path.

    `--no-binary` names the package only: with `:all:` pip also builds every build dependency of the sdist from
    source to read its metadata, which took 2 min 45 s instead of 4 s on a machine with an empty pip cache.
    """
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", "llama-cpp-python",
               f"llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION}", "-d", str(folder)]
    done = subprocess.run(command, capture_output=True, text=True)
    archives = list(folder.glob("llama_cpp_python-*.tar.gz"))
    if done.returncode != 0 or len(archives) != 1:
        raise TokenizerError(
            f"could not download the llama.cpp vocabularies with `{' '.join(command)}` "
            f"(exit {done.returncode}):\n{done.stderr[-2000:]}\n"
            f"It needs access to PyPI; or copy the {_PREFIX}* files of that sdist into {target} yourself.")
    digest = hashlib.sha256(archives[0].read_bytes()).hexdigest()
    if digest != _SDIST_SHA256:
        raise TokenizerError(f"{archives[0].name} from pip has sha256 {digest}, not the published {_SDIST_SHA256}")
    return archives[0]


def _extract_vocabs(archive: Path, staging: Path) -> None:
    """Copy only the regular `vendor/llama.cpp/models/ggml-vocab-*` members, flat, into `staging`.

    Each member is written under its bare name, so no path in the archive decides where a file lands.
    """
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            directory, _, name = member.name.rpartition("/")
            if member.isfile() and directory == _MEMBER_DIR and name.startswith(_PREFIX):
                with tar.extractfile(member) as source, open(staging / name, "wb") as sink:
                    shutil.copyfileobj(source, sink)
    if not any(staging.glob(f"{_PREFIX}*.gguf")):
        raise TokenizerError(f"{archive.name} has no {_MEMBER_DIR}/{_PREFIX}*.gguf files")


def main() -> None:
    """Fetch if needed, then list each cached vocabulary with its size and number of test vectors."""
    folder = llama_vocab_dir()
    print(folder)
    for name, path in vocab_files().items():
        print(f"  {name:16} {path.stat().st_size / 1e6:6.1f} MB  {len(test_vectors(name)):3d} test vectors")


if __name__ == "__main__":
    main()
