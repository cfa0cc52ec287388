"""prefetched(): same items in the same order as the plain iterator, errors surface in the consumer, no thread leaks;
in_step(): zip for streams of logits, holding no window longer than its consumer."""
import threading
import weakref

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codeguard.probes.corpus.streaming import in_step, prefetched


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


@given(st.lists(st.integers()), st.integers(min_value=1, max_value=3))
def test_in_step_walks_equal_streams_as_zip_does(items, streams):
    others = [list(items) for _ in range(streams - 1)]
    assert list(in_step(iter(items), *others)) == list(zip(items, *others))


def test_in_step_refuses_streams_that_end_at_different_lengths():
    """A model that scored fewer windows than asked must fail the probe, not leave the rest unchecked (zip
    stopped silently at the shortest)."""
    with pytest.raises(RuntimeError, match=r"streams ended at different lengths: stream\(s\) \[1\] ended first"):
        list(in_step([1, 2, 3], iter([1, 2])))


class Logits:
    """Stands in for a window's logits; weakly referenced to see when it is freed."""


def test_in_step_holds_no_window_while_the_next_ones_are_scored():
    """A window's logits are freed once the consumer drops them, before the next window of any model is scored:
    zip kept its last tuple for reuse, so each model's previous window (311 MB at 152 k tokens) stayed alive."""
    alive = []  # at each scoring: how many earlier windows are still alive

    def model(made):
        for _ in range(4):
            alive.append(sum(ref() is not None for ref in made))
            window = Logits()
            made.append(weakref.ref(window))
            yield window
            del window

    made_ref, made_opt = [], []
    for ref_logits, opt_logits in in_step(model(made_ref), model(made_opt)):
        del ref_logits, opt_logits  # what the probes do once a window is reduced
    assert alive == [0] * 8
    made_ref.clear()
    made_opt.clear()
    alive.clear()
    for ref_logits, opt_logits in zip(model(made_ref), model(made_opt)):
        del ref_logits, opt_logits
    assert max(alive) == 1  # the behaviour in_step replaces
