"""The dashboard's template helper escapes every value unless it was built as HTML by the helper itself."""

from __future__ import annotations

import pytest

from bot.staff.views import Safe, esc, html, join


@pytest.mark.parametrize(("value", "expected"), [
    ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
    ('" onmouseover="x', "&quot; onmouseover=&quot;x"),
    ("it's & more", "it&#x27;s &amp; more"),
    (None, ""),
    (42, "42"),
    ("普通文字", "普通文字"),
])
def test_values_are_escaped_in_text_and_attributes(value: object, expected: str) -> None:
    assert esc(value) == expected
    assert html('<p title="{v}">{v}</p>', v=value) == f'<p title="{expected}">{expected}</p>'


def test_fragments_built_by_the_helper_are_not_escaped_twice() -> None:
    inner = html("<b>{x}</b>", x="<i>")
    assert isinstance(inner, Safe)
    assert html("<p>{inner}</p>", inner=inner) == "<p><b>&lt;i&gt;</b></p>"
    assert join([inner, "<u>"], " ") == "<b>&lt;i&gt;</b> &lt;u&gt;"


def test_a_plain_string_is_never_trusted() -> None:
    assert html("{x}", x=str(Safe("<b>"))) == "&lt;b&gt;"


def test_format_specs_apply_before_escaping() -> None:
    assert html("{n:,} {f:.1f}", n=1234567, f=2.25) == "1,234,567 2.2"


@pytest.mark.parametrize(("value", "expected"), [
    ("\u202e贴补 ydisbus\u202c", "[U+202E]贴补 ydisbus[U+202C]"),
    ("a\u2066b\u2069c", "a[U+2066]b[U+2069]c"),
    ("\u200f\u200e\u061c", "[U+200F][U+200E][U+061C]"),
])
def test_direction_controls_are_shown_as_codes(value: str, expected: str) -> None:
    """Issue 12 leftover: a right-to-left override showed raw in the enquiry list's question cell."""
    assert esc(value) == expected
