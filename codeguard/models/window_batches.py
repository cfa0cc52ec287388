"""How many corpus windows go to one forward call: bounded by tokens, and by the memory their logits take where the
model runs.

A window's logits are positions × vocabulary (512 × 152 k float32: 0.3 GB). On the host the budget is a fixed
2^25 logits, which at 152 k holds less than one window, so every window is its own call; that is right for a CPU,
whose time is arithmetic. On a GPU the time of a 512-token call is launch overhead, not arithmetic (the H200 scored
1.5 B and 7 B models at the same ~5 k tokens/s one window per call, bench/RESULTS.md), so there the windows per call
follow the GPU's free memory.
"""
from __future__ import annotations

HOST_LOGIT_BUDGET = 1 << 25
# Logit copies alive at once on a GPU, per window of a batch: each model's batch being scored and the one its
# prefetch thread holds (teacher_forced.prefetch_depth), for both models of the pair.
GPU_LIVE_BATCHES = 4
# Share of the GPU's free memory the live batches may fill; the rest is the forward pass's activations, the float64
# reduction chunks (probes/corpus/pair_stats.py) and the allocator's slack.
GPU_LOGIT_SHARE = 0.5
LOGIT_BYTES = 4  # float32: what most heads return (the ones that return bf16 take half)


def windows_per_call(longest: int, vocab: int, token_budget: int, free_gpu_bytes: int | None = None) -> int:
    """Windows of up to `longest` tokens per forward call, at least 1.

    Host (`free_gpu_bytes` None): `token_budget` padded tokens and HOST_LOGIT_BUDGET logits. GPU: `token_budget`
    tokens and GPU_LOGIT_SHARE of the free memory for GPU_LIVE_BATCHES batches of float32 logits, rounded down to a
    power of two so that small changes in free memory do not change the batches (and the logits' low bits) between
    runs of the same job.
    """
    by_tokens = token_budget // max(1, longest)
    logits_per_window = max(1, longest) * max(1, vocab)
    if free_gpu_bytes is None:
        return max(1, min(by_tokens, HOST_LOGIT_BUDGET // logits_per_window))
    by_memory = int(GPU_LOGIT_SHARE * free_gpu_bytes) // (GPU_LIVE_BATCHES * LOGIT_BYTES * logits_per_window)
    fits = max(1, min(by_tokens, by_memory))
    return 1 << (fits.bit_length() - 1)
