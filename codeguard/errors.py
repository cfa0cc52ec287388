"""Errors a user can cause. Each message names the culprit (spec, file, key) and says how to fix it."""
from __future__ import annotations


class CodeguardError(Exception):
    """Base of every user-facing codeguard error; the CLI exits 2 on it, the plugin reports it as a failure."""


class ModelSpecError(CodeguardError):
    """A model spec string (or a --model-pair value) that cannot be resolved to a model."""


class VocabularyMismatchError(CodeguardError):
    """Reference and optimized models that do not share a vocabulary, so their distributions cannot be compared."""


class NonFiniteLogitsError(CodeguardError):
    """A model produced NaN or inf logits: a gate must fail on it, never pass."""


class ProbeInputError(CodeguardError):
    """The two models would not receive identical input ids, or a probe got an invalid configuration."""


class BaselineError(CodeguardError):
    """A baseline file that is missing, corrupt, of a wrong schema, or belongs to another reference model."""


class ConfigError(CodeguardError):
    """A bad option value (limits, tolerances, slot names)."""


class DeviceError(CodeguardError):
    """A device that was asked for but is not on this machine (`--codeguard-device cuda` without a GPU), or a
    backend that cannot run on the device asked for (ONNX Runtime without onnxruntime-gpu, llama.cpp without GPU
    offload)."""


class LanguageRegistryError(CodeguardError):
    """A language registry file that is malformed, or a language name that is not in the registry."""


class TokenizerError(CodeguardError):
    """A tokenizer that cannot be built or used: an unsupported model or pre-tokenizer, or an unreadable file."""


class CodeguardWarning(UserWarning):
    """A gate that ran but can see less than the user may think (e.g. a pass@k gate whose reference solves
    nothing)."""


class ReportError(CodeguardError):
    """A report or history that cannot be written or read: an unwritable folder, a results file or history
    database of another schema, a file that is not what it claims to be."""


class EndpointError(CodeguardError):
    """A served model (an OpenAI-compatible endpoint) that fails a request: an HTTP error after bounded retries,
    a refused API key, or an answer without the log-probabilities a probe asked for."""


class ApproximateSourceError(CodeguardError):
    """A gate on a metric that needs exact distributions, fed by a model whose distributions are approximate
    (a served model: top-k log-probabilities with the remaining mass spread)."""


class OutputError(CodeguardError):
    """A file codeguard was asked to write (a baseline, a report, a JSON result) that cannot be written."""


class DerivationMemoryError(CodeguardError):
    """A derivation (`@onnx-int8`, ...) that would need more memory than this machine has available: refused before
    it starts, naming the spec, the derivation, the needed and available GiB, and the ways around it."""


class ReferenceCacheError(CodeguardError):
    """A reference cache (probes/reference_cache) that cannot serve this run: missing, partial or corrupt files, or
    built for another reference, tokenizer, corpus, probe configuration or reduction format (named in the message)."""
