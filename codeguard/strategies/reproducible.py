"""Seeded hypothesis searches that do not depend on which modules the process happened to import.

hypothesis (6.13x and later) mines literal constants from every *local* module in `sys.modules` (code outside
site-packages and the standard library) and draws them now and then in place of generated integers, floats and
strings. Which modules are loaded depends on what ran earlier in the process (other suites, fixtures, the user's
conftest), so one seed gave different prefixes, and a different worst case, depending on the suites run before it
(measured: @onnx-int8's worst KL 0.0072 alone, 0.0196 after the keywords suite). Inside this context the pool of
local constants is empty: the search is a function of the seed, the strategy and the models only.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator


@contextmanager
def independent_of_loaded_modules() -> Iterator[bool]:
    """Runs the block with hypothesis' local-constant pool emptied; yields whether there was one to empty.

    Uses hypothesis internals (the pool has no public switch); on a hypothesis without the pool (older than the
    feature) there is nothing to neutralise and the block runs unchanged.
    """
    try:
        from hypothesis.internal.conjecture import providers
        original, cache, empty = providers._get_local_constants, providers.CONSTANTS_CACHE, providers.Constants()
    except (ImportError, AttributeError):
        yield False
        return
    providers._get_local_constants = lambda: empty
    cache.cache.clear()  # filtered views of the pool, keyed by choice type
    try:
        yield True
    finally:
        providers._get_local_constants = original
        cache.cache.clear()
