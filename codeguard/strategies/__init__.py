"""Hypothesis strategies that generate syntactically valid code prefixes per registry language.

A prefix is a complete program that parses (Python: `ast.parse` and tree-sitter; other languages: their
tree-sitter grammar without ERROR or MISSING nodes) cut at a token boundary. Programs come from two sources:

- ``grammar``: small programs built from grammar pieces (imports, functions, declarations, ``if``/``while``/``for``
  nested up to four levels, calls, comments, long string literals, operators) for
  ``python, javascript, typescript, java, c, cpp, go, rust``;
- ``corpus``: runs of consecutive top-level declarations of the per-language corpus files (every registry language
  whose corpus files parse).

Shrinking moves towards one short program (one empty function, the first declaration of a file) cut after its
first token, so a counterexample reads as a few lines of code. With a tokenizer, cuts are at the tokenizer's token
boundaries and the prefix carries the ids a model sees; without one, at lexical boundaries.

    from hypothesis import given
    from codeguard.strategies import code_prefixes

    @given(code_prefixes(["python", "rust"], tokenizer=model.tokenizer, max_tokens=48))
    def test_prefix(prefix):
        ...  # prefix.text, prefix.ids, prefix.program, prefix.language
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from hypothesis import strategies as st

from codeguard.errors import ConfigError
from codeguard.languages.corpus import load_corpus
from codeguard.languages.registry import Language, LanguageRegistry, load_registry
from codeguard.strategies.grammar import CONSTRUCTS, RENDERERS, _Named, program_trees
from codeguard.strategies.validity import is_valid_program, parser_for

GRAMMAR_LANGUAGES = tuple(RENDERERS)
DEFAULT_LANGUAGES = ("python", "javascript", "java", "c", "go", "rust")
SOURCES = ("grammar", "corpus")
_LEXICAL_PIECE = re.compile(r"[A-Za-z0-9_]+|[ \t]+|\n|[^A-Za-z0-9_\s]|\s")

__all__ = ["CodePrefix", "code_prefixes", "prefix_batches", "programs", "corpus_programs", "is_valid_program",
           "GRAMMAR_LANGUAGES", "DEFAULT_LANGUAGES", "CONSTRUCTS", "SOURCES", "resolve_languages"]


@dataclass(frozen=True)
class CodePrefix:
    """A prefix of a valid program: where it comes from, the program, the prefix text and its token ids."""

    language: str
    source: str                    # "grammar" or "corpus:<file>"
    program: str                   # the complete program that parses
    text: str                      # program[:cut]
    ids: tuple[int, ...] | None    # the tokenizer's ids of the program up to the cut (None without a tokenizer)

    @property
    def n_tokens(self) -> int:
        return len(self.ids) if self.ids is not None else len(_LEXICAL_PIECE.findall(self.text))


def resolve_languages(languages: str | Sequence[str] | None, sources: Sequence[str] = SOURCES,
                      registry: LanguageRegistry | None = None, corpus=None) -> list[Language]:
    """Registry languages (ids or names) that the chosen sources can generate; clear errors otherwise."""
    registry = registry or load_registry()
    unknown_sources = [s for s in sources if s not in SOURCES]
    if unknown_sources or not sources:
        raise ConfigError(f"prefix sources {list(sources)!r}: choose from {', '.join(SOURCES)}")
    names = [languages] if isinstance(languages, str) else list(DEFAULT_LANGUAGES if languages is None else languages)
    if not names:
        raise ConfigError("no language given for the code prefixes; name at least one, e.g. python")
    resolved = []
    for name in names:
        language = registry.get(name)  # LanguageRegistryError naming the known languages
        has_grammar = "grammar" in sources and language.id in RENDERERS
        has_corpus = "corpus" in sources and bool(_corpus_files(language, corpus))
        if not (has_grammar or has_corpus):
            raise ConfigError(
                f"no code prefixes for {language.name}: the grammar strategy covers "
                f"{', '.join(GRAMMAR_LANGUAGES)}, and the corpus has no {language.name} file that parses"
                + ("" if "corpus" in sources else " (the corpus source is switched off)"))
        resolved.append(language)
    return list(dict.fromkeys(resolved))


def _constructs(constructs: Sequence[str] | None) -> frozenset[str]:
    if constructs is None:
        return frozenset(CONSTRUCTS)
    unknown = [c for c in constructs if c not in CONSTRUCTS]
    if unknown:
        raise ConfigError(f"unknown construct(s) {unknown}; choose from {', '.join(CONSTRUCTS)}")
    return frozenset(constructs)


def programs(language: str | Language, *, constructs: Sequence[str] | None = None,
             registry: LanguageRegistry | None = None) -> st.SearchStrategy[str]:
    """Complete programs of `language` built from grammar pieces; every one parses."""
    if isinstance(language, str):
        language = resolve_languages(language, ("grammar",), registry)[0]
    renderer = RENDERERS[language.id]
    reserved = frozenset(language.keywords) | frozenset(language.builtins if language.id != "python" else ())
    trees = program_trees(reserved, _constructs(constructs), len(renderer.imports))
    return _Named(trees.map(renderer.program), f"programs({language.id!r})")


@dataclass(frozen=True)
class _CorpusFile:
    source: str
    data: bytes = field(repr=False)  # hypothesis prints strategies (sampled_from its files) in reports: keep it short
    spans: tuple[tuple[int, int], ...] = field(repr=False)  # byte spans of the top-level nodes


@functools.lru_cache(maxsize=64)
def _corpus_files_cached(language: Language, root: str | None) -> tuple[_CorpusFile, ...]:
    corpus = load_corpus(root)
    files = []
    for f in corpus.by_language(language.id):
        if not language.tree_sitter or not is_valid_program(language, f.text):
            continue
        data = f.text.encode("utf-8")
        root_node = parser_for(language.tree_sitter).parse(data).root_node
        spans = tuple((c.start_byte, c.end_byte) for c in root_node.children if c.end_byte > c.start_byte)
        if spans:
            files.append(_CorpusFile(f"corpus:{Path(f.path).relative_to(corpus.root)}", data, spans))
    return tuple(files)


def _corpus_files(language: Language, corpus) -> tuple[_CorpusFile, ...]:
    root = None if corpus is None else str(getattr(corpus, "root", corpus))
    return _corpus_files_cached(language, root)


def corpus_programs(language: str | Language, *, corpus=None,
                    registry: LanguageRegistry | None = None) -> st.SearchStrategy[tuple[str, str]]:
    """(source, program) pairs: runs of consecutive top-level declarations of a corpus file that still parse."""
    if isinstance(language, str):
        language = resolve_languages(language, ("corpus",), registry, corpus)[0]
    files = _corpus_files(language, corpus)

    @st.composite
    def draw_program(draw):
        f = draw(st.sampled_from(files))
        start = draw(st.integers(0, len(f.spans) - 1))
        count = draw(st.integers(1, len(f.spans) - start))
        begin, end = f.spans[start][0], f.spans[start + count - 1][1]
        return f.source, f.data[begin:end].decode("utf-8", errors="replace") + "\n"

    return draw_program().filter(lambda item: is_valid_program(language, item[1]))


def _token_cuts(tokenizer, program: str) -> tuple[list[int], list[int]]:
    """The program's ids and the character offset after each token."""
    encoded = tokenizer(program, add_special_tokens=False, return_offsets_mapping=True)
    ids, ends = list(encoded["input_ids"]), [end for _, end in encoded["offset_mapping"]]
    for k in range(1, len(ends)):  # byte-level tokens inside one character share offsets; keep them monotone
        ends[k] = max(ends[k], ends[k - 1])
    return ids, ends


@st.composite
def _cut(draw, language: Language, source: str, program: str, tokenizer, max_tokens: int) -> CodePrefix:
    if tokenizer is not None:
        ids, ends = _token_cuts(tokenizer, program)
        n = draw(st.integers(1, max(1, min(len(ids), max_tokens))))
        return CodePrefix(language.id, source, program, program[:ends[n - 1]], tuple(ids[:n]))
    pieces = _LEXICAL_PIECE.findall(program)
    n = draw(st.integers(1, max(1, min(len(pieces), max_tokens))))
    return CodePrefix(language.id, source, program, "".join(pieces[:n]), None)


def code_prefixes(languages: str | Sequence[str] | None = None, *, tokenizer=None, max_tokens: int = 64,
                  constructs: Sequence[str] | None = None, sources: Sequence[str] = SOURCES, corpus=None,
                  registry: LanguageRegistry | None = None) -> st.SearchStrategy[CodePrefix]:
    """Prefixes of valid programs of `languages` (default: python, javascript, java, c, go, rust).

    `tokenizer`: a Hugging Face fast tokenizer (a model's `.tokenizer`); cuts are at its token boundaries and
    prefixes carry their ids. `max_tokens` bounds the prefix length; `constructs` restricts the grammar pieces
    (see CONSTRUCTS); `sources` picks grammar-built programs, corpus-derived ones or both; `corpus` is a corpus
    folder (default: the shipped one).
    """
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise ConfigError(f"max_tokens={max_tokens!r}: a prefix needs at least 1 token")
    if tokenizer is not None and not callable(tokenizer):
        raise ConfigError(f"tokenizer {tokenizer!r} is not a Hugging Face tokenizer; pass a model's .tokenizer")
    allowed = _constructs(constructs)
    per_language = []
    for language in resolve_languages(languages, sources, registry, corpus):
        options = []
        if "grammar" in sources and language.id in RENDERERS:
            options.append(programs(language, constructs=sorted(allowed)).map(lambda p: ("grammar", p)))
        if "corpus" in sources and _corpus_files(language, corpus):
            options.append(corpus_programs(language, corpus=corpus))
        per_language.append(st.one_of(*options).flatmap(
            lambda item, lang=language: _cut(lang, item[0], item[1], tokenizer, max_tokens)))
    return st.one_of(*per_language)


def prefix_batches(languages: str | Sequence[str] | None = None, *, batch_size: int = 8,
                   **kwargs) -> st.SearchStrategy[list[CodePrefix]]:
    """Lists of 1..`batch_size` prefixes (one model call per list); shrinking keeps a single failing prefix."""
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size={batch_size!r}: a batch holds at least 1 prefix")
    prefixes = code_prefixes(languages, **kwargs)
    # st.lists would average ~4 elements; a size drawn first fills model calls (and still shrinks to 1). Prefixes
    # are distinct within a batch: hypothesis' mutations otherwise repeat one element, and a repeat costs a slot.
    return st.integers(1, batch_size).flatmap(
        lambda n: st.lists(prefixes, min_size=n, max_size=n, unique_by=lambda p: (p.language, p.text)))
