"""The vocabulary half of the model protocol for backends whose tokenizer is a token list plus special-token roles.

The GGUF backend (tokenizer from the file's metadata) and the served-model backend (tokenizer from a local spec)
both hold their vocabulary as `tokens` (id -> token string) and `special` (role -> id) next to a wrapped
transformers tokenizer, so tokenizer, output width, vocabulary, special tokens and the cold-start choice are the
same code for both; kept here once so that the two cannot drift apart (HFCausalLM reads these from its HF tokenizer
and model config instead).
"""
from __future__ import annotations

from functools import cached_property

from codeguard.errors import ProbeInputError

SPECIAL_ROLES = ("bos", "eos", "pad", "unk")


class TokenListVocabulary:
    """Mixin for a backend dataclass with `spec`, `hf_tokenizer`, `tokens: list[str]` and `special: dict[str, int]`."""

    @property
    def tokenizer(self):
        return self.hf_tokenizer

    @property
    def fast_tokenizer(self):
        """The `tokenizers.Tokenizer` that encodes text (what the corpus probes use)."""
        return self.hf_tokenizer.backend_tokenizer

    @property
    def output_width(self) -> int:
        return len(self.tokens)

    def vocabulary(self) -> list[str]:
        return list(self.tokens)

    def special_tokens(self) -> dict[str, int]:
        return {name: token_id for name, token_id in self.special.items() if name in SPECIAL_ROLES}

    def start_ids(self, start_token: str | None = None) -> tuple[list[int], str]:
        """The cold-start context, chosen as HFCausalLM does: the configured token, else BOS, else EOS."""
        if start_token is not None:
            if start_token not in self._ids:
                raise ProbeInputError(f"start token {start_token!r} is not in the vocabulary of {self.spec}")
            return [self._ids[start_token]], f"configured:{start_token}"
        for role, label in (("bos", "bos"), ("eos", "eos-as-start")):
            if role in self.special:
                return [self.special[role]], f"{label}:{self.tokens[self.special[role]]}"
        raise ProbeInputError(f"{self.spec}: the tokenizer has neither BOS nor EOS; pass a start token "
                              "(--codeguard-start-token TOKEN)")

    @cached_property
    def _ids(self) -> dict[str, int]:
        return {token: i for i, token in enumerate(self.tokens)}
