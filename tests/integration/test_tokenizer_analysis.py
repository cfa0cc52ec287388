"""Tokenizer analysis: token classes, keyword coverage in real contexts, fertility, on real tokenizers."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from codeguard.languages.corpus import CorpusError, load_corpus
from codeguard.languages.registry import load_registry
from codeguard.models.tokenizers import load_tokenizer
from codeguard.probes.tokenizer_analysis import (
    CLASSES,
    analyse_tokenizer,
    classify_surface,
    keyword_coverage,
    tokens_covering,
)

REGISTRY = load_registry()


@pytest.fixture(scope="module")
def zoo_tokenizer():
    return load_tokenizer("zoo:tiny-code")


@pytest.mark.parametrize("surface, expected", [
    (b"def", "keyword"), (b" return", "keyword"), (b"\n    if", "keyword"), (b" SELECT", "keyword"),
    (b"foo_bar", "identifier"), (b" 0x1F", "numeric"), (b"):", "punctuation"), (b"\n", "whitespace"),
    (b"    ", "indentation"), (b"\n\t\t", "indentation"), (b"\xe2\x96", "byte_or_non_ascii"),
    (" caf\u00e9".encode(), "byte_or_non_ascii"), (b"a+b", "other"),
])
def test_classify_surface(surface, expected):
    keywords = {w for lang in REGISTRY.languages.values() for w in lang.keywords}
    assert classify_surface(surface, keywords, is_special=False) == expected
    assert classify_surface(surface, keywords, is_special=True) == "special"


@given(st.binary(max_size=12))
def test_every_surface_gets_exactly_one_known_class(surface):
    assert classify_surface(surface, {"def"}, is_special=False) in CLASSES


def test_keyword_coverage_counts_tokens_over_the_keyword_in_context(zoo_tokenizer):
    # 'nonlocal' splits into ' non' + 'local' after a space; 'def' is one token in every context
    pieces = tokens_covering(zoo_tokenizer, "x ", "nonlocal")
    assert [zoo_tokenizer.token_bytes(i) for i in pieces] == [b" non", b"local"]
    assert len(tokens_covering(zoo_tokenizer, "(", "def")) == 1
    coverage = keyword_coverage(zoo_tokenizer, REGISTRY.get("python"))
    assert {"keyword": "nonlocal", "pieces": [" non", "local"]} in coverage.split_keywords
    n = len(REGISTRY.get("python").keywords)
    assert coverage.n_keywords == n
    assert coverage.space_single_token_fraction == pytest.approx(1 - len(coverage.split_keywords) / n)
    assert coverage.mean_tokens_per_keyword >= 1.0


def test_analysis_of_the_zoo_tokenizer(zoo_tokenizer):
    corpus = load_corpus()
    result = analyse_tokenizer(zoo_tokenizer, REGISTRY, corpus=corpus)
    assert sum(c["count"] for c in result.classes.values()) == result.vocab_size == 8192
    assert sum(c["fraction"] for c in result.classes.values()) == pytest.approx(1.0)
    assert result.classes["special"]["count"] == 2
    assert set(result.coverage) == set(REGISTRY.ids) == set(result.fertility)
    python = result.fertility["python"]
    files = corpus.by_language("python")
    assert python.tokens == sum(len(zoo_tokenizer.encode(f.text)) for f in files)
    assert python.tokens_per_line == pytest.approx(python.tokens / sum(len(f.text.splitlines()) for f in files))
    # trained mostly on Python, the zoo tokenizer encodes Python keywords better than SQL's
    assert result.coverage["python"].space_single_token_fraction > result.coverage["sql"].space_single_token_fraction
    assert result.keyword_tokens["python"]["bare"] > 0 and result.keyword_tokens["python"]["space"] > 0
    assert result.to_dict()["coverage"]["go"]["n_keywords"] == len(REGISTRY.get("go").keywords)


def test_corpus_reports_unknown_and_undecodable_files(tmp_path):
    (tmp_path / "a.py").write_text("def f():\n    return 1\n")
    (tmp_path / "notes.xyz").write_text("hello")
    (tmp_path / "bad.c").write_bytes(b"int x = '\xff';\n")
    corpus = load_corpus(tmp_path, REGISTRY)
    assert [f.language for f in corpus.files] == ["python"]
    assert corpus.unknown_language == ["notes.xyz"] and corpus.undecodable == ["bad.c"]


def test_empty_corpus_is_a_clear_error(tmp_path):
    with pytest.raises(CorpusError, match="holds no readable source file"):
        load_corpus(tmp_path, REGISTRY)
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "missing", REGISTRY)


def test_unknown_language_is_refused(zoo_tokenizer):
    from codeguard.errors import LanguageRegistryError
    with pytest.raises(LanguageRegistryError, match="unknown language 'brainfuck'"):
        analyse_tokenizer(zoo_tokenizer, REGISTRY, languages=["brainfuck"])
