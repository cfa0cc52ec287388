"""The narrow channel: only builtin values cross between the untrusted sample process and the trusted checker.

A completion must not be able to forge a verdict by returning an object whose `__eq__` is always true, or a
subclass of `int` with tampered comparisons. So values are encoded by *exact* type (no subclasses) into JSON, and
the checker rebuilds fresh builtin objects from that text; anything else is `invalid`.
Carried: None, bool, int, float (including nan/inf), complex, str, bytes, and lists, tuples, dicts, sets and
frozensets of them. Depth and size are bounded so a hostile value cannot exhaust the checker.

Encoding: UTF-8 JSON. JSON's own types stand for themselves (null, booleans, integers of any size, floats written
the way Python's repr writes them, NaN and Infinity included, strings, arrays for lists); every other type is an
object with one tag: {"t": [...]} tuple, {"s": [...]} set, {"f": [...]} frozenset, {"d": [[key, value], ...]} dict,
{"b": "base64"} bytes, {"c": [real, imag]} complex, {"z": "base64"} a string holding lone surrogates (its UTF-8
with surrogatepass). Most values a test passes are numbers, strings and lists, which json's C code then reads and
writes by itself: a call costs a few microseconds.

Strings cross exactly. JSON's \\uD83D\\uDE00 escapes mean ONE character (U+1F600), so a string of two lone
surrogates written that way would arrive changed; the encoder therefore writes text as UTF-8 (no escapes outside
ASCII control characters) and moves strings with surrogates into the "z" tag, and the decoder refuses surrogate
escapes, which only a forged encoding contains.

Decoding has a cost bound: sets and dict keys whose items share hash values (ints equal modulo 2**61 - 1, say)
would make building them quadratic, so more than MAX_COLLISIONS shared hashes is refused.
"""
from __future__ import annotations

import base64
import binascii
import json
import re

from codeguard.errors import CodeguardError

MAX_DEPTH = 64
MAX_BYTES = 16 << 20
MAX_COLLISIONS = 256  # items of one set or dict that may share a hash value with another
_SCALARS = (str, int, float, bool, type(None))
_SCALAR_TYPES = frozenset(_SCALARS)
_FEW = 3  # containers up to this length are encoded item by item (see _to_tree)
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=True, check_circular=False, separators=(",", ":"))
# json's C encoder with _ENCODER's settings, made once: _ENCODER.encode builds a new one for every value, which was a
# third of the cost of encoding a call's arguments (the C encoder writes the same text).
_C_ENCODER = None if json.encoder.c_make_encoder is None else json.encoder.c_make_encoder(
    None, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",", False, False, True)
_SURROGATE = re.compile("[\ud800-\udfff]")
# A \\uD800-\\uDFFF escape that is not itself escaped (preceded by an even run of backslashes).
_SURROGATE_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u[dD][89a-fA-F]")


class ChannelError(CodeguardError):
    """A value that may not cross the channel (verdict `invalid`), or text that is not a valid encoding."""


def _to_tree(value, depth: int, exact_strings: bool = False):
    """The JSON tree for `value`; with exact_strings, strings holding lone surrogates become "z" tags (the
    encoder's second pass, taken only when the first one's text could not be written as UTF-8)."""
    kind = type(value)  # exact types only: a subclass could override __eq__
    if kind is str and exact_strings and _SURROGATE.search(value):
        return {"z": base64.b64encode(value.encode("utf-8", "surrogatepass")).decode("ascii")}
    if kind in _SCALARS:
        return value
    if depth >= MAX_DEPTH:
        raise ChannelError(f"value nested deeper than {MAX_DEPTH} levels")
    deeper, exact = depth + 1, exact_strings
    # A container of more than a few JSON scalars (checked in C, by exact type) is its own tree: a call per item
    # below costs more than one pass over the types (for two or three items it costs less).
    if kind is list:
        if len(value) > _FEW and not exact and _SCALAR_TYPES.issuperset(map(type, value)):
            return value
        return [_to_tree(item, deeper, exact) for item in value]
    if kind is tuple:
        if len(value) > _FEW and not exact and _SCALAR_TYPES.issuperset(map(type, value)):
            return {"t": list(value)}
        return {"t": [_to_tree(item, deeper, exact) for item in value]}
    if kind is dict:
        if len(value) > _FEW and not exact and _SCALAR_TYPES.issuperset(map(type, value)) and \
                _SCALAR_TYPES.issuperset(map(type, value.values())):
            return {"d": list(map(list, value.items()))}
        return {"d": [[_to_tree(key, deeper, exact), _to_tree(item, deeper, exact)] for key, item in value.items()]}
    if kind is set or kind is frozenset:
        if len(value) > _FEW and not exact and _SCALAR_TYPES.issuperset(map(type, value)):
            return {"s" if kind is set else "f": list(value)}
        return {"s" if kind is set else "f": [_to_tree(item, deeper, exact) for item in value]}
    if kind is bytes:
        return {"b": base64.b64encode(value).decode("ascii")}
    if kind is complex:
        return {"c": [value.real, value.imag]}
    raise ChannelError(f"a value of type {kind.__module__}.{kind.__qualname__} cannot cross the channel "
                       "(only builtin values can)")


def _dumps(tree) -> str:
    return _ENCODER.encode(tree) if _C_ENCODER is None else "".join(_C_ENCODER(tree, 0))


def encode(value) -> bytes:
    """Encodes a builtin value; raises ChannelError for anything else."""
    try:
        text = _dumps(_to_tree(value, 0))
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate somewhere: encode its strings exactly
            data = _dumps(_to_tree(value, 0, exact_strings=True)).encode("utf-8")
    except RecursionError:
        raise ChannelError("value too deeply nested") from None
    except ValueError as error:  # an int with more digits than int-to-text conversion allows
        raise ChannelError(f"value cannot be encoded: {error}") from None
    if len(data) > MAX_BYTES:
        raise ChannelError(f"value larger than {MAX_BYTES} bytes encoded")
    return data


def _number(token) -> float:
    if type(token) is float or type(token) is int:
        return float(token)
    raise ChannelError(f"bad complex part in encoding: {token!r:.40}")


def _check_hashes(items) -> None:
    """Refuses set items or dict keys that share hash values: building them would cost quadratic time."""
    if len(items) > MAX_COLLISIONS and len(items) - len(set(map(hash, items))) > MAX_COLLISIONS:
        raise ChannelError(f"a set or dict whose items share hash values ({len(items)} items; more than "
                           f"{MAX_COLLISIONS} collisions would make rebuilding it quadratic)")


def _tagged(obj: dict):
    """Rebuilds a tagged value (json calls this innermost first, so the items are already rebuilt)."""
    if len(obj) != 1:
        raise ChannelError("malformed encoding: an object must have exactly one tag")
    ((tag, payload),) = obj.items()
    try:
        if tag == "t" and type(payload) is list:
            return tuple(payload)
        if tag == "s" and type(payload) is list:
            _check_hashes(payload)
            return set(payload)
        if tag == "f" and type(payload) is list:
            _check_hashes(payload)
            return frozenset(payload)
        if tag == "d" and type(payload) is list:
            for pair in payload:
                if type(pair) is not list or len(pair) != 2:
                    raise ChannelError("malformed dict entry in encoding")
            _check_hashes([pair[0] for pair in payload])
            return dict(payload)
        if tag == "b" and type(payload) is str:
            return base64.b64decode(payload, validate=True)
        if tag == "z" and type(payload) is str:
            return base64.b64decode(payload, validate=True).decode("utf-8", "surrogatepass")
        if tag == "c" and type(payload) is list and len(payload) == 2:
            return complex(_number(payload[0]), _number(payload[1]))
    except TypeError:
        raise ChannelError("unhashable item in an encoded set or dict key") from None
    except (binascii.Error, UnicodeDecodeError):
        raise ChannelError("bad bytes in encoding") from None
    raise ChannelError(f"unknown or malformed tag {tag[:40]!r} in encoding")


_DECODER = json.JSONDecoder(object_hook=_tagged)
# The scanner that _DECODER.decode runs after skipping whitespace with a regular expression (and again after the
# value): called directly on text that starts and ends with the value, as encode() writes it, it returns the same
# objects for less than half the cost. Any other text takes the full decode, which accepts or refuses it as before.
_SCAN_ONCE = _DECODER.scan_once


def decode(data: bytes):
    """Rebuilds fresh builtin objects from an encoding; raises ChannelError on anything malformed."""
    if len(data) > MAX_BYTES:
        raise ChannelError(f"encoding larger than {MAX_BYTES} bytes")
    try:
        text = data.decode("utf-8")  # strict: UTF-8-encoded surrogates are refused here
    except UnicodeDecodeError:
        raise ChannelError("encoding is not valid UTF-8") from None
    if "\\u" in text and _SURROGATE_ESCAPE.search(text):
        raise ChannelError("a surrogate escape in the encoding (strings with surrogates cross in the 'z' tag)")
    try:
        try:
            value, end = _SCAN_ONCE(text, 0)
        except StopIteration:  # no value at the very start (whitespace first, or nothing valid): the full decode
            return _DECODER.decode(text)
        return value if end == len(text) else _DECODER.decode(text)
    except ValueError:  # includes JSONDecodeError and ints too long to convert
        raise ChannelError("encoding is not valid JSON") from None
    except RecursionError:
        raise ChannelError("encoding too deeply nested") from None
