"""Argument helpers every subcommand shares: comma lists, k values, JSON output."""
from __future__ import annotations

from codeguard.atomic_files import json_text, write_output
from codeguard.errors import CodeguardError


def split_list(value: str | None) -> list[str] | None:
    """`"a, b,"` -> `["a", "b"]`; None or empty -> None (meaning: all)."""
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def parse_ks(value: str) -> list[int]:
    """`--k 1,10` -> [1, 10]; anything else is an error naming the option."""
    try:
        ks = [int(k) for k in split_list(value) or []]
    except ValueError:
        raise CodeguardError(f"--k {value!r}: expected comma-separated whole numbers, e.g. 1,10") from None
    if not ks or min(ks) < 1:
        raise CodeguardError(f"--k {value!r}: every k must be >= 1")
    return ks


def write_json(target: str, data: dict) -> None:
    """`data` as JSON to a file, or to stdout for '-'."""
    write_output(target, json_text(data))
