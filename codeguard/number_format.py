"""How codeguard spells a number everywhere (gate messages, terminal summary, Markdown, HTML): one spelling."""
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
