"""prefetched(): same items in the same order as the plain iterator, errors surface in the consumer, no thread leaks."""
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codeguard.probes.corpus.streaming import prefetched


@given(st.lists(st.integers()), st.integers(min_value=1, max_value=4))
def test_yields_the_same_items_in_order(items, depth):
    assert list(prefetched(iter(items), depth)) == items


def test_a_producer_error_is_raised_where_the_stream_breaks():
    def produce():
        yield 1
        yield 2
        raise ValueError("window 3 is broken")

    seen = []
    with pytest.raises(ValueError, match="window 3 is broken"):
        for item in prefetched(produce()):
            seen.append(item)
    assert seen == [1, 2]


def test_a_consumer_that_stops_early_stops_the_producer():
    produced = []

    def produce():
        for i in range(1000):
            produced.append(i)
            yield i

    before = threading.active_count()
    stream = prefetched(produce(), depth=2)
    assert next(stream) == 0
    stream.close()
    assert threading.active_count() == before
    assert len(produced) <= 5  # ran at most the queue's depth ahead, then stopped
