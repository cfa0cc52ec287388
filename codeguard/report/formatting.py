"""Number and gate-check formatting shared by the terminal summary, Markdown and HTML (one spelling everywhere)."""
from __future__ import annotations

import math


def fmt(value, digits: int = 4) -> str:
    """4 significant digits; '-' for missing, 'nan'/'inf' spelled out (a failing NaN must be visible)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (int, float)):
        return f"{value:.{digits}g}"
    return str(value)


def bound(check: dict) -> str:
    """'<= 0.03' or '>= 0.9' (the side a metric must stay on)."""
    return ("<= " if str(check["direction"]).startswith("lower") else ">= ") + fmt(check["limit"])


def excess(check: dict) -> float | None:
    """How far past its limit a check landed, in the metric's own units (positive: worse than allowed)."""
    obtained, limit = check.get("obtained"), check.get("limit")
    if not isinstance(obtained, (int, float)) or not isinstance(limit, (int, float)):
        return None
    if not math.isfinite(obtained):
        return math.inf
    return obtained - limit if str(check["direction"]).startswith("lower") else limit - obtained


def excess_text(check: dict) -> str:
    """'+0.012 (3.1x the limit)' style: what a release engineer asks first about a failure."""
    over = excess(check)
    if over is None:
        return "-"
    if not math.isfinite(over):
        return f"obtained {fmt(check['obtained'])}"
    limit, relative = check["limit"], ""
    if limit:
        share = abs(over) / abs(limit)
        relative = f" ({share:.0%} of the limit)" if share < 10 else f" ({abs(check['obtained'] / limit):.3g}x the limit)"
    return f"{'+' if over >= 0 else '-'}{fmt(abs(over), 3)}{relative}"


def tolerance_text(check: dict) -> str:
    tolerance = check.get("tolerance")
    if tolerance:
        return f"rtol {tolerance['rtol']:g}, atol {tolerance['atol']:g}"
    return "limit" if check.get("source") == "limit" else "?"


def _byte_level_decoder() -> dict[str, int]:
    """GPT-2's byte-to-unicode table, inverted: byte-level BPE vocabularies spell ' or' as 'Ġor', '\\n' as 'Ċ'."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    codes, extra = list(printable), 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return {chr(code): byte for byte, code in zip(printable, codes)}


_BYTE_LEVEL = _byte_level_decoder()


def token_text(token: str) -> str:
    """The text a vocabulary entry stands for, quoted, so whitespace tokens are visible: 'Ġor' -> \"' or'\"."""
    if token and all(ch in _BYTE_LEVEL for ch in token):
        text = bytes(_BYTE_LEVEL[ch] for ch in token).decode("utf-8", "replace")
    else:
        text = token.replace("▁", " ")  # sentencepiece's space
    return repr(text)
