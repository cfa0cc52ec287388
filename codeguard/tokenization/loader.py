"""CodeTokenizer: one interface over HF tokenizers and GGUF vocabularies (model specs: `codeguard.models.tokenizers`).

Analyses need each token's *surface bytes* (what it contributes to the text), which the token string alone
does not give: byte-level BPE writes a space as 'Ġ', SentencePiece as '▁' and bytes as '<0x0A>'.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from codeguard.errors import CodeguardError
from codeguard.tokenization.gguf import tokenizer_from_gguf


def _byte_decoder() -> dict[str, int]:
    """GPT-2's reversible byte↔unicode table, inverted (the one `tokenizers.pre_tokenizers.ByteLevel` uses)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(
        range(ord("®"), ord("ÿ") + 1))
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, codes)}


_BYTE_DECODER = _byte_decoder()


@dataclass
class CodeTokenizer:
    """A fast tokenizer with what analyses need: ids, surfaces, special tokens. Encoding adds no special tokens."""

    name: str
    kind: str  # "huggingface", "gguf" or "model"
    backend: object  # tokenizers.Tokenizer
    special_tokens: dict[str, int] = field(default_factory=dict)

    def encode(self, text: str) -> list[int]:
        return self.backend.encode(text, add_special_tokens=False).ids

    def encode_with_offsets(self, text: str):
        encoding = self.backend.encode(text, add_special_tokens=False)
        return encoding.ids, encoding.offsets

    def decode(self, ids: list[int]) -> str:
        return self.backend.decode(ids, skip_special_tokens=False)

    @property
    def vocab_size(self) -> int:
        return self.backend.get_vocab_size(with_added_tokens=True)

    def vocabulary(self) -> list[str]:
        """Token strings by id, as stored in the vocabulary."""
        return [self.backend.id_to_token(i) or "" for i in range(self.vocab_size)]

    @cached_property
    def special_ids(self) -> set[int]:
        added = {token.content for token in self.backend.get_added_tokens_decoder().values() if token.special}
        return {self.backend.token_to_id(t) for t in added} | set(self.special_tokens.values())

    @cached_property
    def _byte_level(self) -> bool:
        decoder = json.loads(self.backend.to_str()).get("decoder") or {}
        kinds = [decoder.get("type")] + [d.get("type") for d in decoder.get("decoders", [])]
        return "ByteLevel" in kinds

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes a token contributes to decoded text (special tokens: their own string)."""
        token = self.backend.id_to_token(token_id) or ""
        if token_id in self.special_ids:
            return token.encode()
        if self._byte_level:
            if all(ch in _BYTE_DECODER for ch in token):
                return bytes(_BYTE_DECODER[ch] for ch in token)
            return token.encode()
        if len(token) == 6 and token.startswith("<0x") and token.endswith(">"):
            return bytes([int(token[3:5], 16)])
        return token.replace("▁", " ").encode()

    def surfaces(self) -> list[bytes]:
        return [self.token_bytes(i) for i in range(self.vocab_size)]


def tokenizer_from_hf_directory(path: Path, name: str) -> CodeTokenizer:
    from transformers import AutoTokenizer
    try:
        hf = AutoTokenizer.from_pretrained(path)
    except Exception as error:  # noqa: BLE001
        raise CodeguardError(f"tokenizer {name!r}: cannot load a Hugging Face tokenizer from {path}: {error}") from None
    if not getattr(hf, "is_fast", False):
        raise CodeguardError(f"tokenizer {name!r}: {path} has only a slow (Python) tokenizer; codeguard needs a "
                             "fast one (tokenizer.json)")
    names = {"bos": hf.bos_token, "eos": hf.eos_token, "pad": hf.pad_token, "unk": hf.unk_token}
    special = {k: hf.convert_tokens_to_ids(v) for k, v in names.items() if v is not None}
    return CodeTokenizer(name=name, kind="huggingface", backend=hf.backend_tokenizer, special_tokens=special)


def load_tokenizer_file(path: str | Path) -> CodeTokenizer | None:
    """A tokenizer from a GGUF file or a HF tokenizer directory; None when `path` is neither (a model spec, maybe).

    Model specs (`zoo:tiny-code`, `./model@onnx-int8`) are `codeguard.models.tokenizers.load_tokenizer`'s job.
    """
    text = str(path)
    path = Path(text).expanduser()
    if path.suffix == ".gguf" or (path.is_file() and path.read_bytes()[:4] == b"GGUF"):
        gguf = tokenizer_from_gguf(path)
        return CodeTokenizer(name=text, kind="gguf", backend=gguf.tokenizer, special_tokens=dict(gguf.special_tokens))
    if path.is_dir() and ((path / "tokenizer.json").is_file() or (path / "tokenizer_config.json").is_file()):
        return tokenizer_from_hf_directory(path, text)
    return None


def model_tokenizer(model) -> CodeTokenizer:
    """The tokenizer a loaded model (any LanguageModel) runs, as a CodeTokenizer for analyses (its fast tokenizer: a
    GGUF model's needs no transformers)."""
    return CodeTokenizer(name=model.spec, kind="model", backend=model.fast_tokenizer,
                         special_tokens=model.special_tokens())


_ROLE_ARGUMENTS = {"bos": "bos_token", "eos": "eos_token", "pad": "pad_token", "unk": "unk_token"}


def _named_special_tokens(gguf_tokenizer, tokens: list[str]) -> dict[str, str]:
    return {argument: tokens[gguf_tokenizer.special_tokens[role]] for role, argument in _ROLE_ARGUMENTS.items()
            if role in gguf_tokenizer.special_tokens}


def transformers_tokenizer(gguf_tokenizer, tokens: list[str], backend=None):
    """A GGUF tokenizer as a transformers fast tokenizer, with its BOS/EOS/PAD/UNK by role (over `backend`, the
    `wrapped_backend` of the same tokenizer, when one was built already)."""
    from transformers import PreTrainedTokenizerFast  # transformers is heavy: only the backends that need it pay
    return PreTrainedTokenizerFast(tokenizer_object=backend or gguf_tokenizer.tokenizer,
                                   model_input_names=["input_ids", "attention_mask"],
                                   **_named_special_tokens(gguf_tokenizer, tokens))


def wrapped_backend(gguf_tokenizer, tokens: list[str]):
    """The `tokenizers.Tokenizer` that `transformers_tokenizer`'s wrapper runs, built without importing transformers
    (~1.5 s of a GGUF gate's start-up; bench/bench_llama_parity.py): a copy of the GGUF tokenizer with its
    BOS/EOS/PAD/UNK added as special tokens, as PreTrainedTokenizerFast adds them (so text holding their strings
    encodes to the special ids). The same serialized tokenizer for every shipped GGUF vocabulary (tested)."""
    import copy

    from tokenizers import AddedToken
    backend = copy.deepcopy(gguf_tokenizer.tokenizer)
    backend.add_special_tokens([AddedToken(token, special=True, normalized=False)
                                for token in _named_special_tokens(gguf_tokenizer, tokens).values()])
    return backend
