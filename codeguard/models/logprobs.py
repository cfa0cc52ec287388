"""Log-probabilities from logits, shared by the local backends (PyTorch, ONNX, llama.cpp): one rule for all."""
from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np
import torch


def window_logprobs(window_logits: Iterable[torch.Tensor]) -> Iterator[np.ndarray]:
    """Per-window (len, vocab) float64 log-probabilities, streamed window by window: the softmax runs in float64
    so that log-probabilities of rare tokens keep their digits whatever the logits' dtype. A CUDA GPU computes them
    where it scored; MPS, which has no float64, hands its logits to the CPU first."""
    for logits in window_logits:
        if logits.device.type not in ("cpu", "cuda"):
            logits = logits.cpu()
        yield torch.log_softmax(logits, dim=-1, dtype=torch.float64).cpu().numpy()
