"""Models behind one protocol (`protocol.LanguageModel`); `load_model(spec)` is the entry point.

Names are imported lazily: specs and the protocol are read by the pytest plugin in every run, and torch must not
be imported unless a model is loaded.
"""
from __future__ import annotations

import importlib

_EXPORTS = {"LanguageModel": "codeguard.models.protocol", "HFCausalLM": "codeguard.models.hf",
            "load_model": "codeguard.models.loading"}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'codeguard.models' has no attribute {name!r}")
