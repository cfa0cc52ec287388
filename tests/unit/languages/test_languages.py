"""The language registry: coverage, sources, agreement with real grammars, user extension, bad files."""
import keyword

import pytest
from tree_sitter_language_pack import get_language

from codeguard.errors import LanguageRegistryError
from codeguard.languages.registry import load_registry

REQUIRED = ["python", "javascript", "typescript", "java", "c", "cpp", "csharp", "go", "rust", "php", "ruby",
            "kotlin", "swift", "scala", "bash", "sql", "lua"]
REGISTRY = load_registry()


def test_required_languages_with_sourced_lists():
    assert set(REQUIRED) <= set(REGISTRY.ids)
    for language in REGISTRY.languages.values():
        assert language.keywords and language.builtins and language.extensions
        assert language.sources["keywords"] and language.sources["builtins"]
        assert not set(language.keywords) & set(language.builtins), language.id


def test_python_keywords_come_from_the_keyword_module():
    python = REGISTRY.get("python")
    assert python.reserved == tuple(keyword.kwlist)
    assert python.contextual == tuple(keyword.softkwlist)


@pytest.mark.parametrize("lang_id", REQUIRED)
def test_keywords_agree_with_the_tree_sitter_grammar(lang_id):
    """Every keyword is a token of the language's real grammar, except the ones the registry lists as not."""
    language = REGISTRY.get(lang_id)
    grammar = get_language(language.tree_sitter)
    kinds = {grammar.node_kind_for_id(i) for i in range(grammar.node_kind_count)}
    anonymous = {k for i, k in enumerate(grammar.node_kind_for_id(i) for i in range(grammar.node_kind_count))
                 if not grammar.node_kind_is_named(i)}

    def in_grammar(word):
        return (word in anonymous or f"keyword_{word.lower()}" in kinds
                or (language.case_insensitive and word.lower() in anonymous))
    missing = [w for w in language.keywords if not in_grammar(w)]
    assert missing == list(language.not_in_grammar)


def test_lookup_by_name_and_extension():
    assert REGISTRY.get("C++").id == "cpp" and REGISTRY.get("c#").id == "csharp"
    assert REGISTRY.for_path("src/main.rs").id == "rust" and REGISTRY.for_path("x.unknown") is None
    assert REGISTRY.get("sql").spellings("select") == ("SELECT", "select")


def test_unknown_language_lists_the_known_ones():
    with pytest.raises(LanguageRegistryError, match="unknown language 'cobol'; known: python, javascript"):
        REGISTRY.get("cobol")


def test_user_file_adds_a_language_and_extends_another(tmp_path, monkeypatch):
    user = tmp_path / "ours.toml"
    user.write_text('[languages.zig]\nname = "Zig"\nextensions = [".zig"]\n'
                    'keywords.source = "Zig reference, Keywords"\nkeywords.reserved = ["const", "fn", "pub"]\n'
                    '[languages.python]\nbuiltins.source = "team idioms"\nbuiltins.words = ["pytest"]\n')
    registry = load_registry([user])
    assert registry.get("zig").keywords == ("const", "fn", "pub")
    assert "pytest" in registry.get("python").builtins and "print" in registry.get("python").builtins
    assert "team idioms" in registry.get("python").sources["builtins"]
    monkeypatch.setenv("CODEGUARD_LANGUAGES", str(user))
    assert "zig" in load_registry().ids


@pytest.mark.parametrize("content, fragment", [
    ('[languages.zig]\nname = "Zig"\nextensions = [".zig"]\nkeywords.source = "x"\nkeywords.reserved = []\n',
     "languages.zig: the keyword list is empty"),
    ('[languages.zig]\nname = "Zig"\nextensions = [".zig"]\nkeywords.reserved = ["fn"]\n',
     "languages.zig.keywords.source is missing"),
    ('[languages.zig]\nname = "Zig"\nextensions = [".zig"]\nkeywords.source = "x"\nkeywords.reserved = ["", 1]\n',
     "languages.zig.reserved must be a list of non-empty strings"),
    ('[languages.zig]\nextensions = [".zig"]\nkeywords.source = "x"\nkeywords.reserved = ["fn"]\n',
     "languages.zig.name is missing"),
    ("[languages.zig\n", "is not valid TOML"),
    ("title = 'no languages'\n", "has no [languages.<id>] tables"),
])
def test_bad_user_files_name_the_file_and_key(tmp_path, content, fragment):
    user = tmp_path / "bad.toml"
    user.write_text(content)
    with pytest.raises(LanguageRegistryError) as info:
        load_registry([user])
    assert str(user) in str(info.value) and fragment in str(info.value)


def test_missing_user_file():
    with pytest.raises(LanguageRegistryError, match="does not exist"):
        load_registry(["/no/such/registry.toml"])
