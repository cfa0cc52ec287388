"""How a tokenizer encodes each programming language: vocabulary classes, keyword coverage and fertility.

Keywords are looked up the way code really carries them — bare (after '('), after a space, and after a newline
and indentation — by tokenizing the keyword in that context and counting the tokens that overlap its characters.
A vocabulary lookup of the bare string alone (the original study's method) misses ' def' and '\\n    def'.
"""
from __future__ import annotations

import re
import string
from collections import Counter
from dataclasses import asdict, dataclass, field

from codeguard.languages.corpus import Corpus
from codeguard.languages.registry import Language, LanguageRegistry

# Contexts a keyword is tokenized in; the keyword starts right after the prefix.
KEYWORD_CONTEXTS = {"bare": "(", "space": "x ", "newline": "x\n    "}
CLASSES = ("special", "keyword", "identifier", "numeric", "punctuation", "whitespace", "indentation",
           "byte_or_non_ascii", "other")
_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
_NUMBER = re.compile(r"^[0-9][0-9A-Fa-fxXoObB._]*$")
_INDENT = re.compile(r"^\n*([ ]{2,}|\t+)$")
_PUNCTUATION = set(string.punctuation)


@dataclass
class KeywordCoverage:
    bare_single_token_fraction: float
    space_single_token_fraction: float
    newline_single_token_fraction: float
    mean_tokens_per_keyword: float  # space form, the one code uses most
    split_keywords: list[dict]
    n_keywords: int


@dataclass
class Fertility:
    files: int
    lines: int
    characters: int
    tokens: int
    tokens_per_line: float
    tokens_per_character: float
    characters_per_token: float


@dataclass
class TokenizerAnalysis:
    spec: str
    vocab_size: int
    classes: dict[str, dict]
    keyword_tokens: dict[str, dict]  # per language: tokens that are a keyword bare / space-prefixed / newline-led
    coverage: dict[str, KeywordCoverage]
    fertility: dict[str, Fertility] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def classify_surface(surface: bytes, keywords: set[str], is_special: bool) -> str:
    """The class of one token by the text it contributes."""
    if is_special:
        return "special"
    try:
        text = surface.decode("utf-8")
    except UnicodeDecodeError:
        return "byte_or_non_ascii"
    if not text.isascii():
        return "byte_or_non_ascii"
    if text and text.isspace():
        return "indentation" if _INDENT.match(text) else "whitespace"
    core = text.strip()
    if not core:
        return "other"
    if core in keywords or core.lower() in keywords:
        return "keyword"
    if _IDENTIFIER.match(core):
        return "identifier"
    if _NUMBER.match(core):
        return "numeric"
    if all(ch in _PUNCTUATION for ch in core):
        return "punctuation"
    return "other"


def _keyword_form(text: str, word_forms: set[str]) -> str | None:
    """'bare', 'space' or 'newline' (after a newline or an indentation run) when the token text is a keyword."""
    if text in word_forms:
        return "bare"
    if text[:1] == " " and text[1:] in word_forms:
        return "space"
    body = text.lstrip(" \t\n")
    lead = text[:len(text) - len(body)]
    if body in word_forms and ("\n" in lead or "\t" in lead or len(lead) >= 2):
        return "newline"
    return None


def vocabulary_classes(tokenizer, registry: LanguageRegistry, languages: list[Language]):
    """Counts and fractions of vocabulary tokens per class, and per language its keyword tokens by form."""
    all_keywords = {w for lang in registry.languages.values() for w in lang.keywords}
    all_keywords |= {w.lower() for lang in registry.languages.values() if lang.case_insensitive for w in lang.keywords}
    surfaces = tokenizer.surfaces()
    specials = tokenizer.special_ids
    counts = Counter(classify_surface(s, all_keywords, i in specials) for i, s in enumerate(surfaces))
    total = len(surfaces)
    classes = {name: {"count": counts.get(name, 0), "fraction": counts.get(name, 0) / total} for name in CLASSES}
    decoded = [s.decode("utf-8", "replace") if i not in specials else "" for i, s in enumerate(surfaces)]
    per_language = {}
    for language in languages:
        forms = {spelling for word in language.keywords for spelling in language.spellings(word)}
        tally = Counter(form for form in (_keyword_form(t, forms) for t in decoded) if form)
        per_language[language.id] = {"bare": tally["bare"], "space": tally["space"], "newline": tally["newline"],
                                     "total": sum(tally.values()), "fraction_of_vocabulary": sum(tally.values()) / total}
    return classes, per_language


def tokens_covering(tokenizer, prefix: str, word: str) -> list[int]:
    """Ids of the tokens that overlap `word` when it follows `prefix`."""
    ids, offsets = tokenizer.encode_with_offsets(prefix + word)
    start, end = len(prefix), len(prefix) + len(word)
    return [i for i, (a, b) in zip(ids, offsets) if a < end and b > start]


def keyword_coverage(tokenizer, language: Language) -> KeywordCoverage:
    words = [spelling for word in language.keywords for spelling in language.spellings(word)]
    single = Counter()
    space_lengths, splits = [], []
    for word in words:
        for form, prefix in KEYWORD_CONTEXTS.items():
            pieces = tokens_covering(tokenizer, prefix, word)
            single[form] += len(pieces) == 1
            if form == "space":
                space_lengths.append(len(pieces))
                if len(pieces) > 1:
                    splits.append({"keyword": word,
                                   "pieces": [tokenizer.token_bytes(i).decode("utf-8", "replace") for i in pieces]})
    n = len(words)
    return KeywordCoverage(bare_single_token_fraction=single["bare"] / n,
                           space_single_token_fraction=single["space"] / n,
                           newline_single_token_fraction=single["newline"] / n,
                           mean_tokens_per_keyword=sum(space_lengths) / n, split_keywords=splits, n_keywords=n)


def fertility(tokenizer, corpus: Corpus, language: str) -> Fertility:
    files = corpus.by_language(language)
    lines = sum(len(f.text.splitlines()) for f in files)
    characters = sum(len(f.text) for f in files)
    tokens = sum(len(tokenizer.encode(f.text)) for f in files)
    return Fertility(files=len(files), lines=lines, characters=characters, tokens=tokens,
                     tokens_per_line=tokens / max(lines, 1), tokens_per_character=tokens / max(characters, 1),
                     characters_per_token=characters / max(tokens, 1))


def analyse_tokenizer(tokenizer, registry: LanguageRegistry, languages: list[str] | None = None,
                      corpus: Corpus | None = None) -> TokenizerAnalysis:
    """Vocabulary classes, keyword coverage per language and (with a corpus) fertility per language."""
    selected = [registry.get(name) for name in (languages or registry.ids)]
    classes, keyword_tokens = vocabulary_classes(tokenizer, registry, selected)
    coverage = {lang.id: keyword_coverage(tokenizer, lang) for lang in selected}
    result = TokenizerAnalysis(spec=tokenizer.name, vocab_size=tokenizer.vocab_size, classes=classes,
                               keyword_tokens=keyword_tokens, coverage=coverage)
    if corpus is not None:
        result.fertility = {lang.id: fertility(tokenizer, corpus, lang.id) for lang in selected
                            if corpus.by_language(lang.id)}
    return result
