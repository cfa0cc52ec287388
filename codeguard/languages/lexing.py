"""Where keywords begin in real code, found with real lexers (Python's `tokenize`, Pygments for the rest).

A regex would also match keywords inside strings, comments and identifiers; a lexer does not.
"""
from __future__ import annotations

import io
import keyword
import tokenize
from dataclasses import dataclass

from codeguard.languages.registry import Language


@dataclass(frozen=True)
class KeywordSpan:
    start: int  # character offsets into the file's text
    end: int
    word: str


def _python_spans(text: str) -> list[KeywordSpan]:
    """Hard keywords from the tokenize module (soft keywords are identifiers to the tokenizer)."""
    line_starts = [0]
    for line in text.splitlines(keepends=True):
        line_starts.append(line_starts[-1] + len(line))
    spans = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.NAME and keyword.iskeyword(token.string):
                start = line_starts[token.start[0] - 1] + token.start[1]
                spans.append(KeywordSpan(start, start + len(token.string), token.string))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass  # keep what was lexed before the broken part
    return spans


def _pygments_spans(text: str, language: Language) -> list[KeywordSpan]:
    from pygments.lexers import get_lexer_by_name
    from pygments.token import Keyword, Name
    lexer = get_lexer_by_name(language.pygments_lexer, stripnl=False, ensurenl=False, stripall=False)
    words = {spelling for word in language.keywords for spelling in language.spellings(word)}
    spans = []
    for start, kind, value in lexer.get_tokens_unprocessed(text):
        # Pygments files some keywords under Name.Builtin / Keyword.Type etc.; the registry decides which count.
        if (kind in Keyword or kind in Name.Builtin) and value in words:
            spans.append(KeywordSpan(start, start + len(value), value))
    return spans


def keyword_spans(text: str, language: Language) -> list[KeywordSpan]:
    """Positions of the registry's keywords in `text`, in order."""
    if language.id == "python":
        return _python_spans(text)
    if not language.pygments_lexer:
        return []
    return _pygments_spans(text, language)
