"""A small least-recently-used cache with optional time-to-live.

The cache keeps entries in insertion order and moves an entry to the end
whenever it is read, so the first entry is always the one to evict.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Generic, Hashable, Iterator, Optional, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_MISSING = object()


@dataclass
class CacheStats:
    """Counters describing how well the cache is doing."""

    hits: int = 0
    misses: int = 0
    evictions: int = 0
    expired: int = 0

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def reset(self) -> None:
        self.hits = self.misses = self.evictions = self.expired = 0


@dataclass
class _Entry(Generic[V]):
    value: V
    expires_at: Optional[float] = None
    created: float = field(default_factory=time.monotonic)

    def is_expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at


class LRUCache(Generic[K, V]):
    """Thread-safe LRU cache.

    >>> cache = LRUCache(capacity=2)
    >>> cache.put("a", 1)
    >>> cache.put("b", 2)
    >>> cache.get("a")
    1
    >>> cache.put("c", 3)
    >>> "b" in cache
    False
    """

    def __init__(
        self,
        capacity: int = 128,
        ttl: Optional[float] = None,
        on_evict: Optional[Callable[[K, V], None]] = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if capacity <= 0:
            raise ValueError(f"capacity must be positive, got {capacity!r}")
        self._capacity = capacity
        self._ttl = ttl
        self._on_evict = on_evict
        self._clock = clock
        self._data: "OrderedDict[K, _Entry[V]]" = OrderedDict()
        self._lock = threading.RLock()
        self.stats = CacheStats()

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            entry = self._data.get(key)  # type: ignore[arg-type]
            return entry is not None and not entry.is_expired(self._clock())

    def __iter__(self) -> Iterator[K]:
        # Iterate over a snapshot so callers may mutate the cache in the loop.
        with self._lock:
            keys = list(self._data.keys())
        yield from keys

    def __repr__(self) -> str:
        return f"{type(self).__name__}(capacity={self._capacity}, size={len(self)})"

    def get(self, key: K, default: Optional[V] = None) -> Optional[V]:
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                self.stats.misses += 1
                return default
            if entry.is_expired(self._clock()):
                del self._data[key]
                self.stats.expired += 1
                self.stats.misses += 1
                return default
            self._data.move_to_end(key)
            self.stats.hits += 1
            return entry.value

    def put(self, key: K, value: V, ttl: Optional[float] = None) -> None:
        ttl = self._ttl if ttl is None else ttl
        expires = self._clock() + ttl if ttl is not None else None
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
            self._data[key] = _Entry(value, expires)
            while len(self._data) > self._capacity:
                old_key, old_entry = self._data.popitem(last=False)
                self.stats.evictions += 1
                if self._on_evict is not None:
                    try:
                        self._on_evict(old_key, old_entry.value)
                    except Exception:  # a broken callback must not break the cache
                        pass

    def pop(self, key: K, default: object = _MISSING) -> V:
        with self._lock:
            try:
                return self._data.pop(key).value
            except KeyError:
                if default is _MISSING:
                    raise
                return default  # type: ignore[return-value]

    def purge_expired(self) -> int:
        """Drop every expired entry and return how many were removed."""
        now = self._clock()
        with self._lock:
            stale = [k for k, e in self._data.items() if e.is_expired(now)]
            for k in stale:
                del self._data[k]
            self.stats.expired += len(stale)
            return len(stale)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


def memoize(capacity: int = 256, ttl: Optional[float] = None):
    """Decorator that caches a function's results by its positional arguments."""

    def decorator(func):
        cache: LRUCache = LRUCache(capacity=capacity, ttl=ttl)

        def wrapper(*args):
            result = cache.get(args, _MISSING)
            if result is _MISSING:
                result = func(*args)
                cache.put(args, result)
            return result

        wrapper.cache = cache  # type: ignore[attr-defined]
        wrapper.__name__ = func.__name__
        wrapper.__doc__ = func.__doc__
        return wrapper

    return decorator
