"""Backend settings read from the environment (thread counts, token budgets): one parser, one error for all."""
from __future__ import annotations

import os

from codeguard.errors import ModelSpecError


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers and `taskset` narrow)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def positive_int_from_env(name: str, unit: str) -> int | None:
    """`$name` as a whole number >= 1, or None when unset or empty; anything else is an error naming the variable
    (never a traceback from deep inside a backend)."""
    configured = os.environ.get(name)
    if not configured:
        return None
    try:
        value = int(configured)
    except ValueError:
        value = 0
    if value < 1:
        raise ModelSpecError(f"{name}={configured!r}: expected a positive number of {unit}")
    return value
