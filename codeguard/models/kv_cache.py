"""A KV cache for the sampling loop that appends in place: transformers' DynamicCache concatenates every layer's
keys and values at every step (a copy of the whole cache per token, ~20 % of a decode step on the zoo models).

Each layer keeps its keys and values in buffers with room reserved ahead and hands the attention views of the
filled part: the same values, at the same positions, as the concatenated tensors, so the logits do not change.
"""
from __future__ import annotations

import torch
from transformers.cache_utils import Cache, DynamicCache, DynamicLayer

# Positions reserved each time a buffer fills: one copy of the cache per RESERVE tokens instead of one per token.
RESERVE = 64


class ReservedLayer(DynamicLayer):
    """A DynamicLayer whose `keys` and `values` are views into buffers with room for more positions."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, reserve: int | None = None):
        super().__init__()
        self.lazy_initialization(keys)
        self.reserve = RESERVE if reserve is None else reserve
        self.length = 0
        self._key_buffer = self._value_buffer = None
        self.update(keys, values)

    def update(self, key_states, value_states, cache_kwargs=None):
        """Appends the new positions in place (growing the buffers by `reserve` when full) and returns views of
        every position so far."""
        end = self.length + key_states.shape[-2]
        if self._key_buffer is None or end > self._key_buffer.shape[-2]:
            self._key_buffer = self._grown(self._key_buffer, key_states, end)
            self._value_buffer = self._grown(self._value_buffer, value_states, end)
        self._key_buffer[:, :, self.length:end] = key_states
        self._value_buffer[:, :, self.length:end] = value_states
        self.length = end
        self.keys, self.values = self._key_buffer[:, :, :end], self._value_buffer[:, :, :end]
        return self.keys, self.values

    def _grown(self, buffer, states: torch.Tensor, end: int) -> torch.Tensor:
        shape = (*states.shape[:2], end + self.reserve, states.shape[-1])
        grown = torch.empty(shape, dtype=states.dtype, device=states.device)
        if buffer is not None:
            grown[:, :, :self.length] = buffer[:, :, :self.length]
        return grown

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        """Keeps only the rows `indices` (rows that finished leave the batch)."""
        self._key_buffer = self._key_buffer[indices]
        self._value_buffer = self._value_buffer[indices]
        self.keys, self.values = self._key_buffer[:, :, :self.length], self._value_buffer[:, :, :self.length]


def sampling_cache(layers: list[tuple[torch.Tensor, torch.Tensor]], config) -> tuple[Cache, bool]:
    """A cache filled with each layer's (keys, values) for the model `config`; True when it appends in place.

    Models whose config asks for other layers than DynamicLayer (sliding-window or chunked attention) keep
    transformers' DynamicCache, whose sliding layers drop old positions.
    """
    dynamic = DynamicCache(config=config)
    if len(dynamic.layers) != len(layers) or any(type(layer) is not DynamicLayer for layer in dynamic.layers):
        return DynamicCache(ddp_cache_data=layers, config=config), False
    return Cache(layers=[ReservedLayer(keys, values) for keys, values in layers]), True
