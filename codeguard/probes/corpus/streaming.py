"""Runs an iterator ahead in a background thread, so producing item i+1 overlaps consuming item i.

The teacher-forced probes use it to overlap the models' forward passes (which release the GIL, and ONNX Runtime
runs on one thread) with the per-window statistics. The queue is bounded, so memory stays bounded.
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
    finally:
        stop.set()
        worker.join()
