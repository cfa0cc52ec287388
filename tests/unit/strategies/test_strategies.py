"""codeguard.strategies: every generated prefix is cut from a program that parses, and shrinking reads well."""
import ast
import re

import pytest
from hypothesis import HealthCheck, find, given, settings
from transformers import AutoTokenizer

from codeguard.errors import ConfigError, LanguageRegistryError
from codeguard.languages.registry import load_registry
from codeguard.models.zoo import zoo_path
from codeguard.strategies import (
    GRAMMAR_LANGUAGES,
    code_prefixes,
    corpus_programs,
    is_valid_program,
    prefix_batches,
    programs,
)
from codeguard.strategies.validity import parse_errors

REGISTRY = load_registry()
TOKENIZER = AutoTokenizer.from_pretrained(zoo_path("tiny-code"))
QUICK = settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
# find() is derandomized: shrinking tests must not depend on a lucky draw
NO_DB = settings(database=None, deadline=None, derandomize=True, max_examples=1000,
                 suppress_health_check=list(HealthCheck))


def _parses(language: str, text: str) -> bool:
    """An independent check: ast for Python, tree-sitter (no ERROR/MISSING node) for every language."""
    if language == "python":
        ast.parse(text)
    return not parse_errors(REGISTRY.get(language).tree_sitter, text)


@pytest.mark.parametrize("language", GRAMMAR_LANGUAGES)
def test_grammar_programs_parse(language):
    @QUICK
    @given(programs(language))
    def check(program):
        assert _parses(language, program), program
    check()


@pytest.mark.parametrize("language", ["python", "javascript", "java", "c", "go", "rust", "kotlin", "ruby", "sql"])
def test_corpus_programs_parse(language):
    @QUICK
    @given(corpus_programs(language))
    def check(item):
        source, program = item
        assert source.startswith("corpus:")
        assert _parses(language, program), program
    check()


@pytest.mark.parametrize("language", ["python", "javascript", "java", "c", "go", "rust"])
def test_prefixes_are_token_prefixes_of_valid_programs(language):
    @QUICK
    @given(code_prefixes(language, tokenizer=TOKENIZER, max_tokens=24))
    def check(prefix):
        assert prefix.language == language
        assert prefix.program.startswith(prefix.text) and prefix.text
        assert 1 <= prefix.n_tokens <= 24
        full = TOKENIZER(prefix.program, add_special_tokens=False)["input_ids"]
        assert list(prefix.ids) == full[:len(prefix.ids)]  # what a model sees mid-program, not a re-tokenization
        assert TOKENIZER.decode(list(prefix.ids)) == prefix.text
        assert _parses(language, prefix.program)
    check()


def test_prefixes_without_a_tokenizer_cut_at_lexical_boundaries():
    @QUICK
    @given(code_prefixes("go", max_tokens=10, sources=["grammar"]))
    def check(prefix):
        assert prefix.ids is None and 1 <= prefix.n_tokens <= 10 and prefix.program.startswith(prefix.text)
    check()


def test_batches_hold_one_to_batch_size_prefixes():
    @QUICK
    @given(prefix_batches(["c", "rust"], batch_size=4, tokenizer=TOKENIZER, max_tokens=8))
    def check(batch):
        assert 1 <= len(batch) <= 4 and {p.language for p in batch} <= {"c", "rust"}
    check()


def test_the_simplest_program_is_one_empty_function():
    assert find(programs("rust"), lambda p: True, settings=NO_DB) == "fn f() -> i64 {\n}\n"
    assert find(programs("python"), lambda p: True, settings=NO_DB) == "def f():\n    pass\n"


@pytest.mark.parametrize("language, word", [("python", "while"), ("java", "for"), ("go", "return")])
def test_shrinking_reaches_a_short_prefix(language, word):
    prefix = find(code_prefixes(language, tokenizer=TOKENIZER, max_tokens=64, sources=["grammar"]),
                  lambda p: word in p.text, settings=NO_DB)
    assert prefix.text.rstrip().endswith(word)  # cut right after the word: nothing after it survives shrinking
    assert prefix.n_tokens <= 20 and len(prefix.program.splitlines()) <= 8, prefix.program


def test_shrinking_a_corpus_prefix_keeps_it_short():
    prefix = find(code_prefixes("python", tokenizer=TOKENIZER, sources=["corpus"]), lambda p: "class" in p.text,
                  settings=NO_DB)
    assert prefix.text.rstrip().endswith("class") and prefix.n_tokens <= 64


def test_constructs_restrict_the_grammar():
    @QUICK
    @given(programs("python", constructs=["declaration", "return"]))
    def check(program):
        assert not re.search(r"\b(while|for|if|import|print)\b|#", program), program
    check()


@pytest.mark.parametrize("call, message", [
    (lambda: code_prefixes("klingon"), "unknown language 'klingon'; known: python"),
    (lambda: code_prefixes("kotlin", sources=["grammar"]),
     "no code prefixes for Kotlin: the grammar strategy covers python, javascript"),
    (lambda: code_prefixes("python", max_tokens=0), "max_tokens=0: a prefix needs at least 1 token"),
    (lambda: code_prefixes("python", constructs=["goto"]), "unknown construct(s) ['goto']; choose from"),
    (lambda: code_prefixes("python", sources=["web"]), "prefix sources ['web']: choose from grammar, corpus"),
    (lambda: code_prefixes([]), "no language given"),
    (lambda: prefix_batches("python", batch_size=0), "batch_size=0: a batch holds at least 1 prefix"),
])
def test_bad_arguments_say_what_to_fix(call, message):
    with pytest.raises((ConfigError, LanguageRegistryError)) as error:
        call()
    assert message in str(error.value)


def test_is_valid_program_rejects_broken_code():
    assert is_valid_program(REGISTRY.get("python"), "def f():\n    return 1\n")
    assert not is_valid_program(REGISTRY.get("python"), "def f(:\n")
    assert not is_valid_program(REGISTRY.get("rust"), "fn f() { let x = 1 }")      # MISSING ';'
    assert not is_valid_program(REGISTRY.get("c"), "int f( { return 1; }")          # ERROR node
    assert is_valid_program(REGISTRY.get("go"), "package main\n\nfunc f() int {\n\treturn 1\n}\n")
