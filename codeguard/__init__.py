"""codeguard: gate compressed code LLMs against their reference in CI (a pytest plugin and a library).

Public names are imported lazily: the pytest plugin loads in every pytest run of an environment, and torch must
not be imported unless a gate actually runs.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "LanguageModel": "codeguard.models.protocol", "load_model": "codeguard.models.loading",
    "run_cold_start": "codeguard.probes.cold_start", "ColdStartConfig": "codeguard.probes.cold_start",
    "ColdStartResult": "codeguard.probes.cold_start", "assert_divergence": "codeguard.gating.assertions",
    "assert_gate": "codeguard.gating.assertions", "assert_within_baseline": "codeguard.gating.assertions",
    "assert_metrics": "codeguard.gating.assertions", "run_keyword_mass": "codeguard.probes.keyword_mass",
    "parse_spec": "codeguard.models.specs", "parse_model_pair": "codeguard.models.specs",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'codeguard' has no attribute {name!r}")
