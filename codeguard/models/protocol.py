"""The one protocol every backend implements: tokenizer and vocabulary, fingerprint, next-token log-probabilities
for a batch of contexts, and sampling. Probes see models only through it."""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Protocol, Sequence, runtime_checkable

if TYPE_CHECKING:  # annotations only: importing the protocol must not import torch
    import numpy as np
    import torch


@runtime_checkable
class LanguageModel(Protocol):
    """What probes may use of a model. Log-probabilities are float64 over the model's full output vocabulary."""

    spec: str
    fingerprint: str
    backend: str

    @property
    def tokenizer(self): ...  # a transformers fast tokenizer

    @property
    def fast_tokenizer(self): ...  # its `tokenizers.Tokenizer`: what encodes text (no transformers import needed)

    @property
    def max_context(self) -> int: ...

    @property
    def output_width(self) -> int: ...  # logits per position (the vocabulary plus any padding rows)

    def vocabulary(self) -> list[str]: ...

    def special_tokens(self) -> dict[str, int]: ...

    def start_ids(self, start_token: str | None = None) -> tuple[list[int], str]: ...

    def next_token_logprobs(self, contexts: Sequence[Sequence[int]]) -> np.ndarray: ...

    def sequence_logits(self, windows: Sequence[Sequence[int]], first_row: int = 0
                        ) -> Iterator[torch.Tensor | np.ndarray]:
        """Per window, the logits of positions first_row..len-1 (rows before it need not be computed): a tensor on
        the device that scored them, or a numpy array from a host-only backend (llama.cpp, a served model), which
        spares a GGUF pair's corpus probes the torch import."""

    def sequence_logprobs(self, windows: Sequence[Sequence[int]]) -> Iterator[np.ndarray]: ...

    def sample(self, contexts: Sequence[Sequence[int]], max_new_tokens: int, temperature: float = 1.0,
               top_p: float = 1.0, seed: int = 0, stop_strings: Sequence[str] = ()) -> list[list[int]]: ...
    # Backends that sample many rows through one cache also take `row_seeds=` (one stream per row) and say so with
    # `samples_across_problems = True`: pass@k then batches rows of many problems per call.
