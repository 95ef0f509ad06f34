"""Checks every channel applies to what arrives from outside: JSON nesting depth and numeric query values."""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 32                                     # levels of JSON arrays and objects accepted
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_DIGITS = re.compile(r"[0-9]{1,9}")


class TooDeep(ValueError):
    """JSON nested deeper than MAX_DEPTH (json.loads would recurse and might fail with a RecursionError)."""


def nesting_depth(raw: bytes) -> int:
    """How deeply arrays and objects nest in a JSON text (brackets inside strings do not count)."""
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKET)
    depth = deepest = 0
    for byte in brackets:
        if byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def loads(raw: bytes, max_depth: int = MAX_DEPTH) -> Any:
    """json.loads after checking the nesting depth; TooDeep or ValueError for bad input."""
    if nesting_depth(raw) > max_depth:
        raise TooDeep(f"The JSON is nested more than {max_depth} levels deep.")
    return json.loads(raw)


def strict_int(raw: str, low: int, high: int) -> int | None:
    """The whole number written in ASCII digits within [low, high], else None (so `²` or `¹` never pass)."""
    if not _DIGITS.fullmatch(raw):
        return None
    value = int(raw)
    return value if low <= value <= high else None
