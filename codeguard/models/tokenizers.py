"""`load_tokenizer(spec)`: the tokenizer of a GGUF file, a tokenizer directory, or any model spec."""
from __future__ import annotations

from pathlib import Path

from codeguard.errors import ModelSpecError
from codeguard.models.derive.derivations import read_manifest
from codeguard.models.resolve import materialize
from codeguard.models.specs import parse_spec
from codeguard.tokenization.loader import CodeTokenizer, load_tokenizer_file, tokenizer_from_hf_directory


def load_tokenizer(spec: str | Path) -> CodeTokenizer:
    """Loads a tokenizer from a GGUF file, a HF tokenizer directory, or any model spec (`zoo:tiny-code`, ...)."""
    text = str(spec)
    tokenizer = load_tokenizer_file(text)
    if tokenizer is not None:
        return tokenizer
    try:
        directory, kind, _ = materialize(parse_spec(text))
    except ModelSpecError as error:
        raise ModelSpecError(f"{error}; a tokenizer can also be a GGUF file or a tokenizer directory") from None
    if kind == "gguf":  # an @gguf-TYPE derivation: the tokenizer its file carries, as llama.cpp runs it
        tokenizer = load_tokenizer(directory / read_manifest(directory)["file_name"])
        tokenizer.name, tokenizer.kind = text, "model"
        return tokenizer
    tokenizer = tokenizer_from_hf_directory(directory, text)
    tokenizer.kind = "model"
    return tokenizer
