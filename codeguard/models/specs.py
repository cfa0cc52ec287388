"""Parses model spec strings: `SOURCE[@DERIVATION...]` where SOURCE is a path, `hf:ORG/NAME` or `zoo:NAME`."""
from __future__ import annotations

import re
from dataclasses import dataclass

from codeguard.errors import ModelSpecError
from codeguard.models.derive.gguf_types import GGUF_TYPES, gguf_type_problem
from codeguard.models.derive.gguf_types import PREFIX as GGUF_PREFIX
from codeguard.models.endpoint_spec import FORM as ENDPOINT_FORM
from codeguard.models.endpoint_spec import PREFIX as ENDPOINT_PREFIX
from codeguard.models.endpoint_spec import parse_endpoint_spec

DERIVATIONS = ("fp16", "bf16", "dynamic-int8", "onnx", "onnx-int8", "int4-rtn", "int3-rtn", "int2-rtn") + tuple(
    GGUF_PREFIX + t for t in GGUF_TYPES)
ACCEPTED_FORMS = (
    "accepted forms: a local model directory (transformers with config.json, or an Optimum ONNX export), "
    "a local .gguf file (llama.cpp), "
    "'hf:ORG/NAME' (a model hub id), or 'zoo:NAME' (the embedded zoo: zoo:tiny-code, zoo:tiny-code-distilled, "
    "zoo:tiny-code-python); each optionally followed by derivation suffixes "
    + ", ".join("@" + d for d in DERIVATIONS if not d.startswith(GGUF_PREFIX))
    + ", @gguf-TYPE (a GGUF file through llama.cpp; TYPE one of " + ", ".join(GGUF_TYPES) + ")"
    + ", e.g. 'zoo:tiny-code@onnx-int8'; or a served model, " + ENDPOINT_FORM
)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class ModelSpec:
    """A parsed spec: where the weights come from and which derivations to apply, in order."""

    text: str
    scheme: str  # "path", "hf", "zoo" or "openai" (a served model; no derivations)
    location: str
    derivations: tuple[str, ...]

    @property
    def source_text(self) -> str:
        if self.scheme == "openai":
            return self.text
        return self.text.split("@", 1)[0] if self.scheme != "path" else self.location

    def slug(self) -> str:
        """A file-system-safe name used for baseline folders (`zoo:tiny-code` → `zoo-tiny-code`)."""
        base = self.location.rstrip("/").rsplit("/", 1)[-1] if self.scheme == "path" else self.text
        return re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-").lower() or "model"


def parse_spec(text: str) -> ModelSpec:
    if not isinstance(text, str) or not text.strip():
        raise ModelSpecError(f"empty model spec {text!r}; {ACCEPTED_FORMS}")
    text = text.strip()
    if text.startswith(ENDPOINT_PREFIX):  # its options may hold '@' (a tokenizer spec): no derivations here
        parse_endpoint_spec(text)
        return ModelSpec(text, "openai", text[len(ENDPOINT_PREFIX):], ())
    head, *suffixes = _split_suffixes(text)
    for suffix in suffixes:
        if suffix.startswith(GGUF_PREFIX) and suffix not in DERIVATIONS:
            raise ModelSpecError(f"model spec {text!r}: '@{suffix}': {gguf_type_problem(suffix)}")
        if suffix not in DERIVATIONS:
            raise ModelSpecError(f"model spec {text!r}: unknown derivation suffix '@{suffix}'; {ACCEPTED_FORMS}")
    if "://" in head or (":" in head and not head.startswith(("hf:", "zoo:")) and not _looks_like_path(head)):
        scheme = head.split(":", 1)[0]
        raise ModelSpecError(f"model spec {text!r}: unknown scheme '{scheme}:'; {ACCEPTED_FORMS}")
    if head.startswith("hf:"):
        hub_id = head[3:]
        if not _HUB_ID.match(hub_id):
            raise ModelSpecError(f"model spec {text!r}: '{hub_id}' is not a hub id of the form ORG/NAME; "
                                 f"{ACCEPTED_FORMS}")
        return ModelSpec(text, "hf", hub_id, tuple(suffixes))
    if head.startswith("zoo:"):
        name = head[4:]
        if not name:
            raise ModelSpecError(f"model spec {text!r}: missing zoo entry name; {ACCEPTED_FORMS}")
        return ModelSpec(text, "zoo", name, tuple(suffixes))
    return ModelSpec(text, "path", head, tuple(suffixes))


def _looks_like_path(head: str) -> bool:
    # Windows drive letters ("C:\\models") are paths, not schemes.
    return bool(re.match(r"^[A-Za-z]:[\\/]", head))


def _split_suffixes(text: str) -> list[str]:
    """Splits off trailing '@derivation' parts; an '@' inside a directory name stays part of the path."""
    parts = text.split("@")
    head, suffixes = parts[0], parts[1:]
    while suffixes and "/" in suffixes[0]:
        head = head + "@" + suffixes.pop(0)
    if any(not s for s in suffixes):
        raise ModelSpecError(f"model spec {text!r}: empty derivation suffix '@'; {ACCEPTED_FORMS}")
    return [head, *suffixes]


def parse_model_pair(value: str) -> tuple[ModelSpec, ModelSpec]:
    """Parses `REF,OPT` (the value of --model-pair)."""
    if value is None or value.count(",") != 1:
        raise ModelSpecError(
            f"--model-pair {value!r}: expected exactly two specs separated by one comma, 'REF,OPT' "
            f"(e.g. 'zoo:tiny-code,zoo:tiny-code@onnx-int8'); {ACCEPTED_FORMS}")
    ref_text, opt_text = (part.strip() for part in value.split(","))
    if not ref_text or not opt_text:
        raise ModelSpecError(f"--model-pair {value!r}: both REF and OPT must be non-empty; {ACCEPTED_FORMS}")
    return parse_spec(ref_text), parse_spec(opt_text)
