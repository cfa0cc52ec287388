"""The narrow channel: builtin values round-trip exactly; nothing else crosses."""
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codeguard.sandbox.channel import MAX_DEPTH, ChannelError, decode, encode

hashable = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text() | st.binary()
values = st.recursive(
    hashable | st.floats() | st.complex_numbers(),
    lambda children: (st.lists(children, max_size=5) | st.tuples(children, children)
                      | st.dictionaries(hashable, children, max_size=5) | st.sets(hashable, max_size=5)
                      | st.frozensets(hashable, max_size=5)),
    max_leaves=30)


def _same(a, b) -> bool:
    """Equality that also compares types exactly and treats nan as equal to nan."""
    if type(a) is not type(b):
        return False
    if type(a) is float:
        return (math.isnan(a) and math.isnan(b)) or a == b
    if type(a) is complex:
        return _same(a.real, b.real) and _same(a.imag, b.imag)
    if type(a) in (list, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if type(a) is dict:
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


@given(values)
def test_builtin_values_round_trip_exactly(value):
    assert _same(decode(encode(value)), value)


def test_big_ints_keep_their_precision():
    assert decode(encode(2 ** 200 + 1)) == 2 ** 200 + 1


def test_an_int_too_long_for_text_is_refused_not_crashed():
    with pytest.raises(ChannelError, match="cannot be encoded"):
        encode(10 ** 5000)


def test_lists_tuples_and_scalars_keep_their_types():
    value = ([1, (2, 3.0)], {(1, "a"): {frozenset({b"x"})}, None: [True, 1j]}, float("-inf"), -0.0)
    assert _same(decode(encode(value)), value)
    assert repr(decode(encode(-0.0))) == "-0.0" and type(decode(encode(True))) is bool


class AlwaysEqual:
    def __eq__(self, other):
        return True


class SneakyInt(int):
    def __eq__(self, other):
        return True


@pytest.mark.parametrize("value", [AlwaysEqual(), SneakyInt(3), [1, SneakyInt(2)], {"k": AlwaysEqual()},
                                   range(3), lambda: 1, object(), type, Exception("x")])
def test_non_builtin_values_are_refused(value):
    with pytest.raises(ChannelError, match="cannot cross the channel"):
        encode(value)


def test_depth_bombs_are_refused():
    nested = []
    for _ in range(MAX_DEPTH + 5):
        nested = [nested]
    with pytest.raises(ChannelError, match="nested deeper"):
        encode(nested)
    with pytest.raises(ChannelError):
        decode(b"[" * 100_000 + b"]" * 100_000)


@pytest.mark.parametrize("data", [b"not json", b'{"eval": "1"}', b"{}", b'{"t": [1], "s": [2]}', b'{"t": 1}',
                                  b'{"s": [[]]}', b'{"d": [[[], null]]}', b'{"d": [[1]]}', b'{"d": [1]}',
                                  b'{"b": "***"}', b'{"c": [1]}', b'{"c": [true, 1]}', b'{"c": ["1", 2]}',
                                  b"[1, NaNx]", b'"\xff"', b"1" * 5000, '"\u00e9"'.encode("utf-8")])
def test_malformed_encodings_are_refused(data):
    with pytest.raises(ChannelError):
        decode(data)
