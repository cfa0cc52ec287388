"""Runs an iterator ahead in a background thread, so producing item i+1 overlaps consuming item i.

The teacher-forced probes use it to overlap the models' forward passes (which release the GIL, and ONNX Runtime
runs on one thread) with the per-window statistics. The queue is bounded, so memory stays bounded; `in_step` walks
the models' streams side by side without holding a window longer than its consumer does.
"""
from __future__ import annotations

import queue
import threading
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")
_DONE = object()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


def prefetched(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Yields what `items` yields, in order, computing up to `depth` items ahead in a background thread.

    An exception in the producer is re-raised in the consumer at the same point of the stream; a consumer that
    stops early (or raises) stops the producer too.
    """
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
                del item  # else held while the next one is produced, though the consumer may be done with it
        except BaseException as error:  # handed to the consumer, which re-raises it
            put(_Failure(error))
            return
        put(_DONE)

    worker = threading.Thread(target=produce, name="codeguard-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = slots.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
            del item  # not held while waiting for the next one
    finally:
        stop.set()
        worker.join()


def in_step(*streams: Iterable) -> Iterator[tuple]:
    """Like zip, for streams of large arrays (each model's logits, a reference cache's rows): one item of each
    stream at a time, and none held while the next ones are fetched. zip keeps its last tuple for reuse, so a
    window's logits stayed alive until the next window of every model had been scored (311 MB each at 152 k tokens).
    Streams that end at different lengths are an error, never a silent truncation: a model that scored fewer windows
    than asked must not leave the rest unchecked."""
    iterators = [iter(stream) for stream in streams]
    while True:
        items = [next(iterator, _DONE) for iterator in iterators]
        ended = [item is _DONE for item in items]
        if all(ended):
            return
        if any(ended):
            raise RuntimeError(f"streams ended at different lengths: stream(s) {[i for i, e in enumerate(ended) if e]}"
                               " ended first")
        yield tuple(items)
        del items  # runs when the consumer asks for the next items, before they are fetched
