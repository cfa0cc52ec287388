"""The narrow channel: only builtin values cross between the untrusted sample process and the trusted checker.

A completion must not be able to forge a verdict by returning an object whose `__eq__` is always true, or a
subclass of `int` with tampered comparisons. So values are encoded by *exact* type (no subclasses) into JSON, and
the checker rebuilds fresh builtin objects from that text; anything else is `invalid`.
Carried: None, bool, int, float (including nan/inf), complex, str, bytes, and lists, tuples, dicts, sets and
frozensets of them. Depth and size are bounded so a hostile value cannot exhaust the checker.

Encoding: JSON's own types stand for themselves (null, booleans, integers of any size, floats written the way
Python's repr writes them, NaN and Infinity included, strings, arrays for lists); every other type is an object
with one tag: {"t": [...]} tuple, {"s": [...]} set, {"f": [...]} frozenset, {"d": [[key, value], ...]} dict,
{"b": "base64"} bytes, {"c": [real, imag]} complex. Most values a test passes are numbers, strings and lists, which
json's C code then reads and writes by itself: a call costs a few microseconds.
"""
from __future__ import annotations

import base64
import binascii
import json

from codeguard.errors import CodeguardError

MAX_DEPTH = 64
MAX_BYTES = 16 << 20
_SCALARS = (str, int, float, bool, type(None))
_ENCODER = json.JSONEncoder(ensure_ascii=True, allow_nan=True, check_circular=False, separators=(",", ":"))


class ChannelError(CodeguardError):
    """A value that may not cross the channel (verdict `invalid`), or text that is not a valid encoding."""


def _to_tree(value, depth: int):
    kind = type(value)  # exact types only: a subclass could override __eq__
    if kind in _SCALARS:
        return value
    if depth >= MAX_DEPTH:
        raise ChannelError(f"value nested deeper than {MAX_DEPTH} levels")
    if kind is list:
        return [_to_tree(item, depth + 1) for item in value]
    if kind is tuple:
        return {"t": [_to_tree(item, depth + 1) for item in value]}
    if kind is dict:
        return {"d": [[_to_tree(key, depth + 1), _to_tree(item, depth + 1)] for key, item in value.items()]}
    if kind is set or kind is frozenset:
        return {"s" if kind is set else "f": [_to_tree(item, depth + 1) for item in value]}
    if kind is bytes:
        return {"b": base64.b64encode(value).decode("ascii")}
    if kind is complex:
        return {"c": [value.real, value.imag]}
    raise ChannelError(f"a value of type {kind.__module__}.{kind.__qualname__} cannot cross the channel "
                       "(only builtin values can)")


def encode(value) -> bytes:
    """Encodes a builtin value; raises ChannelError for anything else."""
    try:
        text = _ENCODER.encode(_to_tree(value, 0))
    except RecursionError:
        raise ChannelError("value too deeply nested") from None
    except ValueError as error:  # an int with more digits than int-to-text conversion allows
        raise ChannelError(f"value cannot be encoded: {error}") from None
    if len(text) > MAX_BYTES:
        raise ChannelError(f"value larger than {MAX_BYTES} bytes encoded")
    return text.encode("ascii")


def _number(token) -> float:
    if type(token) is float or type(token) is int:
        return float(token)
    raise ChannelError(f"bad complex part in encoding: {token!r:.40}")


def _tagged(obj: dict):
    """Rebuilds a tagged value (json calls this innermost first, so the items are already rebuilt)."""
    if len(obj) != 1:
        raise ChannelError("malformed encoding: an object must have exactly one tag")
    ((tag, payload),) = obj.items()
    try:
        if tag == "t" and type(payload) is list:
            return tuple(payload)
        if tag == "s" and type(payload) is list:
            return set(payload)
        if tag == "f" and type(payload) is list:
            return frozenset(payload)
        if tag == "d" and type(payload) is list:
            result = {}
            for pair in payload:
                if type(pair) is not list or len(pair) != 2:
                    raise ChannelError("malformed dict entry in encoding")
                result[pair[0]] = pair[1]
            return result
        if tag == "b" and type(payload) is str:
            return base64.b64decode(payload, validate=True)
        if tag == "c" and type(payload) is list and len(payload) == 2:
            return complex(_number(payload[0]), _number(payload[1]))
    except TypeError:
        raise ChannelError("unhashable item in an encoded set or dict key") from None
    except binascii.Error:
        raise ChannelError("bad bytes in encoding") from None
    raise ChannelError(f"unknown or malformed tag {tag[:40]!r} in encoding")


_DECODER = json.JSONDecoder(object_hook=_tagged)


def decode(data: bytes):
    """Rebuilds fresh builtin objects from an encoding; raises ChannelError on anything malformed."""
    if len(data) > MAX_BYTES:
        raise ChannelError(f"encoding larger than {MAX_BYTES} bytes")
    try:
        return _DECODER.decode(data.decode("ascii"))
    except (UnicodeDecodeError, ValueError):  # includes JSONDecodeError and ints too long to convert
        raise ChannelError("encoding is not valid JSON") from None
    except RecursionError:
        raise ChannelError("encoding too deeply nested") from None
