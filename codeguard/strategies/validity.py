"""Whether a complete program parses: Python's `ast`, and tree-sitter (no ERROR or MISSING node) for the rest."""
from __future__ import annotations

import ast
import functools
import warnings


@functools.lru_cache(maxsize=None)
def parser_for(grammar: str):
    from tree_sitter_language_pack import get_parser
    return get_parser(grammar)


def parse_errors(grammar: str, text: str) -> bool:
    """True when tree-sitter's `grammar` finds an ERROR or MISSING node in `text`."""
    # `has_error` is set on every ancestor of an ERROR node and of a MISSING (inserted) node
    return parser_for(grammar).parse(text.encode("utf-8")).root_node.has_error


def is_valid_program(language, text: str) -> bool:
    """A complete program of `language` (a registry Language) that parses without error.

    Python must pass `ast.parse` (what CPython accepts) and tree-sitter; other languages their tree-sitter grammar.
    """
    if language.id == "python":
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SyntaxWarning)  # e.g. "invalid escape sequence" in corpus files
                ast.parse(text)
        except (SyntaxError, ValueError):
            return False
    if not language.tree_sitter:
        return language.id == "python"
    return not parse_errors(language.tree_sitter, text)
