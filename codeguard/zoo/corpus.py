"""Builds the zoo's multi-language training corpus from files that Debian and PyPI packages install.

Every source is a package a fresh machine gets through the registries, so the corpus is reproducible:
the manifest records each file's package, path and sha256, and the package versions.
"""
from __future__ import annotations

import hashlib
import json
import random
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CorpusSource:
    language: str
    package: str          # Debian package (or "python" for the interpreter's stdlib)
    root: str             # folder or zip file to read
    suffixes: tuple[str, ...]
    budget_bytes: int     # stop adding files of this language past this size


def default_sources() -> list[CorpusSource]:
    stdlib = sysconfig.get_paths()["stdlib"]
    return [
        CorpusSource("python", "python3.11 (interpreter stdlib)", stdlib, (".py",), 6_000_000),
        CorpusSource("c", "libc6-dev", "/usr/include", (".h",), 2_500_000),
        CorpusSource("java", "openjdk-17-source", "/usr/lib/jvm/java-17-openjdk-amd64/lib/src.zip", (".java",), 2_500_000),
        CorpusSource("javascript", "nodejs (bundled npm)", "/usr/lib/node_modules/npm", (".js",), 2_500_000),
        CorpusSource("shell", "git", "/usr/lib/git-core", ("",), 600_000),
    ]


def _is_shell_script(data: bytes) -> bool:
    first = data.split(b"\n", 1)[0]
    return first.startswith(b"#!") and (b"sh" in first.split(b"/")[-1])


def _iter_files(source: CorpusSource):
    root = Path(source.root)
    if root.suffix == ".zip":
        with zipfile.ZipFile(root) as archive:
            for name in sorted(archive.namelist()):
                if name.endswith(source.suffixes) and not name.endswith("/"):
                    yield name, archive.read(name)
        return
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink() or "__pycache__" in path.parts or "test" in path.parts:
            continue
        if source.suffixes != ("",) and not path.name.endswith(source.suffixes):
            continue
        data = path.read_bytes()
        if source.language == "shell" and not _is_shell_script(data):
            continue
        yield str(path.relative_to(root)), data


def collect(source: CorpusSource, seed: int) -> list[dict]:
    """Picks a seeded random subset of the source's files up to its byte budget."""
    files = [(name, data) for name, data in _iter_files(source) if 200 <= len(data) <= 200_000]
    try:
        files = [(name, data.decode("utf-8")) for name, data in files]
    except UnicodeDecodeError:
        files = [(name, data.decode("utf-8", "replace")) for name, data in files]
    random.Random(f"{seed}:{source.language}").shuffle(files)
    picked, size = [], 0
    for name, text in files:
        if size >= source.budget_bytes:
            break
        picked.append({"language": source.language, "package": source.package, "path": name, "text": text,
                       "sha256": hashlib.sha256(text.encode()).hexdigest()})
        size += len(text)
    return picked


def package_versions(packages: list[str]) -> dict[str, str]:
    versions = {"python": sys.version.split()[0]}
    for package in packages:
        name = package.split()[0]
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", name], capture_output=True, text=True)
        versions[name] = out.stdout.strip() or "unknown"
    return versions


def build_corpus(seed: int = 0, sources: list[CorpusSource] | None = None) -> tuple[list[dict], dict]:
    sources = sources or default_sources()
    documents = []
    for source in sources:
        if not Path(source.root).exists():
            raise FileNotFoundError(f"corpus source for {source.language} missing: {source.root} "
                                    f"(apt-get install {source.package.split()[0]})")
        documents.extend(collect(source, seed))
    manifest = {
        "seed": seed,
        "packages": package_versions([s.package for s in sources if s.package.split()[0] != "python3.11"]),
        "languages": {s.language: {"package": s.package, "root": s.root,
                                   "files": sum(d["language"] == s.language for d in documents),
                                   "chars": sum(len(d["text"]) for d in documents if d["language"] == s.language)}
                      for s in sources},
        "files": [{k: d[k] for k in ("language", "path", "sha256")} for d in documents],
    }
    return documents, manifest


if __name__ == "__main__":
    docs, manifest = build_corpus()
    print(json.dumps(manifest["languages"], indent=2))
