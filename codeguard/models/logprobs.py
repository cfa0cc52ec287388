"""Log-probabilities from logits, shared by the local backends (PyTorch, ONNX, llama.cpp): one rule for all."""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Iterator, Union

import numpy as np

if TYPE_CHECKING:
    from torch import Tensor


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """float64 log-softmax over the last axis of host logits (llama.cpp's), without importing torch."""
    from scipy.special import log_softmax as scipy_log_softmax
    return scipy_log_softmax(np.asarray(logits, dtype=np.float64), axis=-1)


def window_logprobs(window_logits: Iterable[Union[Tensor, np.ndarray]]) -> Iterator[np.ndarray]:
    """Per-window (len, vocab) float64 log-probabilities, streamed window by window: the softmax runs in float64
    so that log-probabilities of rare tokens keep their digits whatever the logits' dtype. A CUDA GPU computes them
    where it scored; MPS, which has no float64, hands its logits to the CPU first; numpy logits stay in numpy."""
    for logits in window_logits:
        if isinstance(logits, np.ndarray):
            yield log_softmax(logits)
            continue
        import torch
        if logits.device.type not in ("cpu", "cuda"):
            logits = logits.cpu()
        yield torch.log_softmax(logits, dim=-1, dtype=torch.float64).cpu().numpy()
