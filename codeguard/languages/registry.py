"""The language registry: keywords, builtins and extensions per programming language, loaded from data files.

The shipped registry is `codeguard/data/languages.toml`. Users add languages or extend lists with their own TOML
file of the same shape (passed to `load_registry`, or listed in `$CODEGUARD_LANGUAGES`, separated by os.pathsep):

    [languages.zig]                       # a new language: name, extensions and a sourced keyword list
    name = "Zig"
    extensions = [".zig"]
    keywords.source = "Zig language reference, Keywords"
    keywords.reserved = ["const", "var", "fn", "pub", "return"]

    [languages.python]                    # an existing language: lists are extended, sources recorded
    builtins.source = "our team's idioms"
    builtins.words = ["pytest", "fixture"]
"""
from __future__ import annotations

import keyword
import os
from dataclasses import dataclass, field
from pathlib import Path

import tomllib

from codeguard.errors import LanguageRegistryError

SHIPPED = Path(__file__).resolve().parents[1] / "data" / "languages.toml"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Language:
    id: str
    name: str
    extensions: tuple[str, ...]
    reserved: tuple[str, ...]
    contextual: tuple[str, ...]
    builtins: tuple[str, ...]
    sources: dict = field(compare=False)
    tree_sitter: str | None = None
    pygments_lexer: str | None = None
    case_insensitive: bool = False
    not_in_grammar: tuple[str, ...] = ()

    @property
    def keywords(self) -> tuple[str, ...]:
        """Reserved then contextual keywords, without duplicates."""
        return tuple(dict.fromkeys(self.reserved + self.contextual))

    def spellings(self, word: str) -> tuple[str, ...]:
        """How `word` is written in code: both cases for case-insensitive languages (SQL)."""
        if not self.case_insensitive:
            return (word,)
        return tuple(dict.fromkeys((word.upper(), word.lower())))


@dataclass
class LanguageRegistry:
    languages: dict[str, Language]
    files: list[str]

    @property
    def ids(self) -> list[str]:
        return list(self.languages)

    def get(self, name: str) -> Language:
        """Looks a language up by id or display name, case-insensitively (`python`, `C++`, `c#`)."""
        wanted = name.strip().lower()
        for language in self.languages.values():
            if wanted in (language.id, language.name.lower()):
                return language
        raise LanguageRegistryError(f"unknown language {name!r}; known: {', '.join(self.ids)} "
                                    "(add one with your own registry file, see codeguard/languages/registry.py)")

    def for_path(self, path: str | Path) -> Language | None:
        """The language of a file by its extension, or None when no registry language claims it."""
        suffix = Path(path).suffix.lower()
        for language in self.languages.values():
            if suffix in language.extensions:
                return language
        return None


def _read_toml(path: Path) -> dict:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LanguageRegistryError(f"language registry file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise LanguageRegistryError(f"language registry file {path} is not valid TOML: {error}") from None
    if not isinstance(data.get("languages"), dict) or not data["languages"]:
        raise LanguageRegistryError(f"language registry file {path} has no [languages.<id>] tables")
    return data


def _words(path, lang_id, table: dict, key: str) -> list[str]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(w, str) and w.strip() for w in value):
        raise LanguageRegistryError(f"{path}: languages.{lang_id}.{key} must be a list of non-empty strings")
    return value


def _entry(path: Path, lang_id: str, raw: dict, base: Language | None) -> Language:
    """Builds a Language from a TOML table, on top of `base` when the file extends an existing language."""
    where = f"{path}: languages.{lang_id}"
    keywords, builtins = raw.get("keywords", {}), raw.get("builtins", {})
    if not isinstance(keywords, dict) or not isinstance(builtins, dict):
        raise LanguageRegistryError(f"{where}: 'keywords' and 'builtins' must be tables")
    if keywords.get("derive") == "python-keyword-module":
        reserved, contextual = list(keyword.kwlist), list(keyword.softkwlist)
    elif "derive" in keywords:
        raise LanguageRegistryError(f"{where}.keywords.derive: unknown value {keywords['derive']!r}; "
                                    "the only one is 'python-keyword-module'")
    else:
        reserved, contextual = _words(path, lang_id, keywords, "reserved"), _words(path, lang_id, keywords,
                                                                                     "contextual")
    builtin_words = _words(path, lang_id, builtins, "words")
    extensions = _words(path, lang_id, raw, "extensions")
    for key, table, listed in (("keywords", keywords, reserved + contextual), ("builtins", builtins, builtin_words)):
        if listed and not str(table.get("source", "")).strip():
            raise LanguageRegistryError(f"{where}.{key}.source is missing: every list needs a source (a language "
                                        "specification section, a grammar, or your team's name)")
    sources = dict(base.sources) if base else {}
    for key, table in (("keywords", keywords), ("builtins", builtins)):
        if table.get("source"):
            sources[key] = (f"{sources[key]}; + {table['source']} ({path})" if base and key in sources
                            else table["source"])
    not_in_grammar = keywords.get("not_in_grammar", [])
    if base is None:
        if not str(raw.get("name", "")).strip():
            raise LanguageRegistryError(f"{where}.name is missing")
        if not reserved and not contextual:
            raise LanguageRegistryError(f"{where}: the keyword list is empty; give keywords.reserved (and "
                                        "optionally keywords.contextual)")
        if not extensions:
            raise LanguageRegistryError(f"{where}.extensions is empty: files could not be attributed to it")
        return Language(
            id=lang_id, name=raw["name"], extensions=tuple(e.lower() for e in extensions), reserved=tuple(reserved),
            contextual=tuple(w for w in contextual if w not in reserved), builtins=tuple(builtin_words),
            sources=sources, tree_sitter=raw.get("tree_sitter"), pygments_lexer=raw.get("pygments_lexer"),
            case_insensitive=bool(raw.get("case_insensitive", False)),
            not_in_grammar=tuple(not_in_grammar) if isinstance(not_in_grammar, list) else ())
    merge = lambda old, new: tuple(dict.fromkeys(old + tuple(new)))  # noqa: E731
    return Language(
        id=lang_id, name=raw.get("name", base.name), extensions=merge(base.extensions, [e.lower() for e in extensions]),
        reserved=merge(base.reserved, reserved), contextual=merge(base.contextual, contextual),
        builtins=merge(base.builtins, builtin_words), sources=sources,
        tree_sitter=raw.get("tree_sitter", base.tree_sitter),
        pygments_lexer=raw.get("pygments_lexer", base.pygments_lexer),
        case_insensitive=bool(raw.get("case_insensitive", base.case_insensitive)),
        not_in_grammar=base.not_in_grammar)


def load_registry(extra_files: list[str | Path] = ()) -> LanguageRegistry:
    """The shipped registry, extended by `extra_files` and the files in $CODEGUARD_LANGUAGES (in that order)."""
    env_files = [f for f in os.environ.get("CODEGUARD_LANGUAGES", "").split(os.pathsep) if f.strip()]
    files = [SHIPPED, *map(Path, env_files), *map(Path, extra_files)]
    languages: dict[str, Language] = {}
    for path in files:
        data = _read_toml(path)
        for lang_id, raw in data["languages"].items():
            if not isinstance(raw, dict):
                raise LanguageRegistryError(f"{path}: languages.{lang_id} must be a table")
            languages[lang_id] = _entry(path, lang_id, raw, languages.get(lang_id))
    return LanguageRegistry(languages, [str(f) for f in files])
