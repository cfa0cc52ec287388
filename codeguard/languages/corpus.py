"""The per-language code corpus: the one shipped in `codeguard/data/corpus/<language>/`, or a user's folder.

Files are attributed to languages by extension through the registry. Files no registry language claims and files
that are not UTF-8 are kept in lists so reports can count them instead of dropping them silently.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from codeguard.errors import CodeguardError
from codeguard.languages.registry import LanguageRegistry, load_registry

SHIPPED_CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"


class CorpusError(CodeguardError):
    """A corpus folder that is missing or holds no usable file."""


@dataclass(frozen=True)
class CorpusFile:
    path: Path
    language: str
    text: str


@dataclass
class Corpus:
    root: Path
    files: list[CorpusFile] = field(default_factory=list)
    unknown_language: list[str] = field(default_factory=list)
    undecodable: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)

    def skipped(self) -> dict[str, list[str]]:
        """Files read but not used, by reason (the reports list them: a user's file must not vanish silently)."""
        return {"unknown_language": list(self.unknown_language), "undecodable": list(self.undecodable),
                "empty": list(self.empty)}

    @property
    def languages(self) -> list[str]:
        return sorted({f.language for f in self.files})

    def by_language(self, language: str) -> list[CorpusFile]:
        return [f for f in self.files if f.language == language]


def load_corpus(directory: str | Path | None = None, registry: LanguageRegistry | None = None) -> Corpus:
    """Reads every file under `directory` (default: the shipped corpus), sorted, attributed by extension."""
    root = Path(directory) if directory is not None else SHIPPED_CORPUS
    registry = registry or load_registry()
    if not root.is_dir():
        raise CorpusError(f"corpus folder {root} does not exist or is not a folder")
    corpus = Corpus(root)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.name.startswith(".") or path.name == "README.md":
            continue
        language = registry.for_path(path)
        if language is None:
            corpus.unknown_language.append(str(path.relative_to(root)))
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            corpus.undecodable.append(str(path.relative_to(root)))
            continue
        if text.strip():
            corpus.files.append(CorpusFile(path, language.id, text))
        else:
            corpus.empty.append(str(path.relative_to(root)))
    if not corpus.files:
        raise CorpusError(f"corpus folder {root} holds no readable source file of a registry language "
                          f"({len(corpus.unknown_language)} of unknown language, {len(corpus.undecodable)} not UTF-8)")
    return corpus
