"""Model backends behind one protocol; `load_model(spec)` is the entry point."""
from codeguard.backends.base import HFCausalLM, LanguageModel
from codeguard.backends.loading import load_model

__all__ = ["HFCausalLM", "LanguageModel", "load_model"]
