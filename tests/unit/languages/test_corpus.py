"""The shipped code corpus (codeguard/data/corpus/<language>/) is real, parseable code.

For every language folder: enough non-blank lines, every file valid UTF-8, and every
file parsed by the matching tree-sitter grammar without ERROR or MISSING nodes.
"""

import pytest
from tree_sitter_language_pack import get_parser

from tests.helpers import REPO

CORPUS = REPO / "codeguard" / "data" / "corpus"

MIN_NON_BLANK_LINES = 200

# language id (folder name) -> (tree-sitter grammar, accepted file extensions)
LANGUAGES = {
    "python": ("python", {".py"}),
    "javascript": ("javascript", {".js"}),
    "typescript": ("typescript", {".ts"}),
    "java": ("java", {".java"}),
    "c": ("c", {".c", ".h"}),
    "cpp": ("cpp", {".cpp", ".hpp"}),
    "csharp": ("csharp", {".cs"}),
    "go": ("go", {".go"}),
    "rust": ("rust", {".rs"}),
    "php": ("php", {".php"}),
    "ruby": ("ruby", {".rb"}),
    "kotlin": ("kotlin", {".kt"}),
    "swift": ("swift", {".swift"}),
    "scala": ("scala", {".scala"}),
    "bash": ("bash", {".sh"}),
    "sql": ("sql", {".sql"}),
    "lua": ("lua", {".lua"}),
}

CASES = [(lang, path) for lang in LANGUAGES for path in sorted((CORPUS / lang).glob("*"))]


def _files(language):
    return sorted(p for p in (CORPUS / language).iterdir() if p.is_file())


def _syntax_problems(root, source: bytes):
    """Every ERROR or MISSING node below root, as 'line L, col C: TYPE ...' strings."""
    problems = []
    stack = [root]
    while stack:
        node = stack.pop()
        if node.type == "ERROR" or node.is_missing:
            line, col = node.start_point
            kind = f"MISSING {node.type!r}" if node.is_missing else "ERROR"
            snippet = source[node.start_byte:node.end_byte].decode("utf-8", "replace")[:60]
            problems.append(f"line {line + 1}, col {col + 1}: {kind} {snippet!r}")
        elif node.has_error:
            stack.extend(node.children)
    return sorted(problems)


def test_every_language_has_a_folder():
    folders = {p.name for p in CORPUS.iterdir() if p.is_dir()}
    assert folders == set(LANGUAGES)


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_language_folder_is_big_enough(language):
    files = _files(language)
    assert 2 <= len(files) <= 4, f"{language}: {len(files)} files"
    _, extensions = LANGUAGES[language]
    wrong = [p.name for p in files if p.suffix not in extensions]
    assert not wrong, f"{language}: unexpected extensions {wrong}"
    total = sum(
        1 for p in files for line in p.read_text(encoding="utf-8").splitlines() if line.strip()
    )
    assert total >= MIN_NON_BLANK_LINES, f"{language}: only {total} non-blank lines"


@pytest.mark.parametrize(
    "language,path", CASES, ids=[f"{lang}/{path.name}" for lang, path in CASES]
)
def test_file_is_utf8_and_parses(language, path):
    source = path.read_bytes()
    try:
        source.decode("utf-8")
    except UnicodeDecodeError as exc:
        pytest.fail(f"{language}/{path.name} is not valid UTF-8: {exc}")
    grammar, _ = LANGUAGES[language]
    tree = get_parser(grammar).parse(source)
    problems = _syntax_problems(tree.root_node, source)
    assert not problems, f"{language}/{path.name} ({grammar} grammar):\n  " + "\n  ".join(problems)
