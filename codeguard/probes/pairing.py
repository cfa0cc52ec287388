"""Pairing: checks that two models can be compared token by token, from the same start ids."""
from __future__ import annotations

from codeguard.errors import ProbeInputError, VocabularyMismatchError


def require_same_vocabulary(ref, opt) -> None:
    """Raises when the vocabularies differ in size or in any token string, naming both tokenizers."""
    ref_vocab, opt_vocab = ref.vocabulary(), opt.vocabulary()
    if ref_vocab == opt_vocab:
        return  # before the names: naming a GGUF model's tokenizer type builds its transformers wrapper
    ref_name = f"{ref.spec} ({type(ref.tokenizer).__name__}, {len(ref_vocab)} tokens)"
    opt_name = f"{opt.spec} ({type(opt.tokenizer).__name__}, {len(opt_vocab)} tokens)"
    for index, (a, b) in enumerate(zip(ref_vocab, opt_vocab)):
        if a != b:
            raise VocabularyMismatchError(
                f"reference {ref_name} and optimized {opt_name} have different vocabularies: first difference at "
                f"token id {index}: {a!r} vs {b!r}. Divergence probes compare distributions token by token, "
                "so both models must share one tokenizer")
    if len(ref_vocab) != len(opt_vocab):
        raise VocabularyMismatchError(
            f"reference {ref_name} and optimized {opt_name} have different vocabulary sizes "
            f"({len(ref_vocab)} vs {len(opt_vocab)}); the first extra token is "
            f"{(ref_vocab + opt_vocab)[min(len(ref_vocab), len(opt_vocab))]!r} at id "
            f"{min(len(ref_vocab), len(opt_vocab))}")


def matching_start_ids(ref, opt, start_token: str | None) -> tuple[list[int], str]:
    ref_ids, source = ref.start_ids(start_token)
    opt_ids, opt_source = opt.start_ids(start_token)
    if ref_ids != opt_ids:
        raise ProbeInputError(
            f"cold start: the models would receive different start ids: {ref.spec} gets {ref_ids} ({source}), "
            f"{opt.spec} gets {opt_ids} ({opt_source}); set one start token for both (--codeguard-start-token)")
    return ref_ids, source
