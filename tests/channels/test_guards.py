"""Rows 9 and 10 of issue 12: JSON nesting depth and strict numeric query values, shared by every channel."""

from __future__ import annotations

import json

import pytest

from bot.channels import guards


@pytest.mark.parametrize(("raw", "depth"), [
    (b'{"a": 1}', 1),
    (b"[[[]]]", 3),
    (b'{"text": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}', 1),
    (b'{"t": "\\"[[[", "u": [[1]]}', 3),
    (b"1", 0),
    (b"[" * 20000 + b"]" * 20000, 20000),
])
def test_nesting_depth_ignores_brackets_inside_strings(raw: bytes, depth: int) -> None:
    assert guards.nesting_depth(raw) == depth


def test_loads_refuses_more_than_32_levels_without_recursing() -> None:
    assert guards.loads(b"[" * 32 + b"]" * 32) == json.loads(b"[" * 32 + b"]" * 32)
    for raw in (b"[" * 33 + b"]" * 33, b'{"a":' * 20000 + b"1" + b"}" * 20000):
        with pytest.raises(guards.TooDeep):
            guards.loads(raw)


@pytest.mark.parametrize(("raw", "expected"), [
    ("7", 7), ("3660", 3660), ("0", None), ("3661", None), ("²", None), ("¹", None), ("٣", None), ("７", None),
    ("", None), ("-1", None), ("+5", None), (" 5", None), ("5\n", None), ("1" * 40, None), ("1e3", None),
])
def test_strict_int_takes_ascii_digits_in_range_only(raw: str, expected: int | None) -> None:
    assert guards.strict_int(raw, 1, 3660) == expected
