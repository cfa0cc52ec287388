"""The narrow channel: only builtin values cross between the untrusted sample process and the trusted checker.

A completion must not be able to forge a verdict by returning an object whose `__eq__` is always true, or a
subclass of `int` with tampered comparisons. So values are encoded by *exact* type (no subclasses) into tagged
JSON, and the checker rebuilds fresh builtin objects from that text; anything else is `invalid`.
Carried: None, bool, int, float (including nan/inf), complex, str, bytes, and lists, tuples, dicts, sets and
frozensets of them. Depth and size are bounded so a hostile value cannot exhaust the checker.
"""
from __future__ import annotations

import base64
import json
import math

from codeguard.errors import CodeguardError

MAX_DEPTH = 64
MAX_BYTES = 16 << 20


class ChannelError(CodeguardError):
    """A value that may not cross the channel (verdict `invalid`), or text that is not a valid encoding."""


def _float(value: float):
    if math.isnan(value):
        return ["float", "nan"]
    if math.isinf(value):
        return ["float", "inf" if value > 0 else "-inf"]
    return ["float", value]


def _to_tree(value, depth: int):
    if depth > MAX_DEPTH:
        raise ChannelError(f"value nested deeper than {MAX_DEPTH} levels")
    kind = type(value)  # exact types only: a subclass could override __eq__
    if value is None:
        return ["none"]
    if kind is bool:
        return ["bool", value]
    if kind is int:
        return ["int", str(value)]  # str: JSON numbers lose precision beyond 2**53
    if kind is float:
        return _float(value)
    if kind is complex:
        return ["complex", _float(value.real)[1], _float(value.imag)[1]]
    if kind is str:
        return ["str", value]
    if kind is bytes:
        return ["bytes", base64.b64encode(value).decode("ascii")]
    if kind in (list, tuple, set, frozenset):
        items = [_to_tree(item, depth + 1) for item in value]
        return [kind.__name__, items]
    if kind is dict:
        return ["dict", [[_to_tree(k, depth + 1), _to_tree(v, depth + 1)] for k, v in value.items()]]
    raise ChannelError(f"a value of type {kind.__module__}.{kind.__qualname__} cannot cross the channel "
                       "(only builtin values can)")


def encode(value) -> bytes:
    """Encodes a builtin value; raises ChannelError for anything else."""
    try:
        text = json.dumps(_to_tree(value, 0), ensure_ascii=True, allow_nan=False)
    except RecursionError:
        raise ChannelError("value too deeply nested") from None
    if len(text) > MAX_BYTES:
        raise ChannelError(f"value larger than {MAX_BYTES} bytes encoded")
    return text.encode("ascii")


def _number(token) -> float:
    if isinstance(token, str) and token in ("nan", "inf", "-inf"):
        return float(token)
    if type(token) in (int, float) and type(token) is not bool:
        return float(token)
    raise ChannelError(f"bad float in encoding: {token!r}")


def _from_tree(tree, depth: int):
    if depth > MAX_DEPTH or type(tree) is not list or not tree or type(tree[0]) is not str:
        raise ChannelError("malformed encoding")
    tag, args = tree[0], tree[1:]
    if tag == "none" and not args:
        return None
    if tag == "bool" and len(args) == 1 and type(args[0]) is bool:
        return args[0]
    if tag == "int" and len(args) == 1 and type(args[0]) is str:
        try:
            return int(args[0])
        except ValueError:
            raise ChannelError(f"bad int in encoding: {args[0][:40]!r}") from None
    if tag == "float" and len(args) == 1:
        return _number(args[0])
    if tag == "complex" and len(args) == 2:
        return complex(_number(args[0]), _number(args[1]))
    if tag == "str" and len(args) == 1 and type(args[0]) is str:
        return args[0]
    if tag == "bytes" and len(args) == 1 and type(args[0]) is str:
        try:
            return base64.b64decode(args[0], validate=True)
        except ValueError:
            raise ChannelError("bad bytes in encoding") from None
    if tag in ("list", "tuple", "set", "frozenset") and len(args) == 1 and type(args[0]) is list:
        items = [_from_tree(item, depth + 1) for item in args[0]]
        try:
            return {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}[tag](items)
        except TypeError:
            raise ChannelError("unhashable item in an encoded set") from None
    if tag == "dict" and len(args) == 1 and type(args[0]) is list:
        result = {}
        for pair in args[0]:
            if type(pair) is not list or len(pair) != 2:
                raise ChannelError("malformed dict entry in encoding")
            try:
                result[_from_tree(pair[0], depth + 1)] = _from_tree(pair[1], depth + 1)
            except TypeError:
                raise ChannelError("unhashable dict key in encoding") from None
        return result
    raise ChannelError(f"unknown or malformed tag {tag!r} in encoding")


def decode(data: bytes):
    """Rebuilds fresh builtin objects from an encoding; raises ChannelError on anything malformed."""
    if len(data) > MAX_BYTES:
        raise ChannelError(f"encoding larger than {MAX_BYTES} bytes")
    try:
        tree = json.loads(data.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise ChannelError("encoding is not valid JSON") from None
    except RecursionError:
        raise ChannelError("encoding too deeply nested") from None
    return _from_tree(tree, 0)
