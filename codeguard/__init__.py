"""codeguard: gate compressed code LLMs against their reference in CI (a pytest plugin and a library).

Public names are imported lazily: the pytest plugin loads in every pytest run of an environment, and torch must
not be imported unless a gate actually runs.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "LanguageModel": "codeguard.backends.base", "load_model": "codeguard.backends.loading",
    "run_cold_start": "codeguard.probes.cold_start", "ColdStartConfig": "codeguard.probes.cold_start",
    "ColdStartResult": "codeguard.probes.cold_start", "assert_divergence": "codeguard.assertions",
    "assert_gate": "codeguard.assertions", "assert_within_baseline": "codeguard.assertions",
    "parse_spec": "codeguard.specs", "parse_model_pair": "codeguard.specs",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'codeguard' has no attribute {name!r}")
