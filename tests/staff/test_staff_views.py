"""The dashboard's templates escape every value; only markup built in bot/staff (charts, previews) is trusted."""

from __future__ import annotations

import jinja2
import pytest

from bot.staff import app as staff_app
from bot.staff.views import View, disabled_page, enquiries

HOSTILE = [("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
           ('" onmouseover="x', "&#34; onmouseover=&#34;x"),
           ("it's & more", "it&#39;s &amp; more"),
           ("普通文字", "普通文字")]


def env() -> jinja2.Environment:
    return staff_app.environment()


@pytest.mark.parametrize(("value", "expected"), HOSTILE)
def test_values_are_escaped_in_text_and_attributes(value: str, expected: str) -> None:
    assert env().from_string('<p title="{{ v }}">{{ v }}</p>').render(v=value) == \
        f'<p title="{expected}">{expected}</p>'


@pytest.mark.parametrize(("value", "expected"), HOSTILE)
def test_the_csrf_field_escapes_its_token(value: str, expected: str) -> None:
    view = View(lang="zh", message=lambda *a, **k: "", url=str, csrf=value)
    assert str(view.csrf_field()) == f'<input type="hidden" name="csrf" value="{expected}">'


def test_the_disabled_page_escapes_both_sentences() -> None:
    page = disabled_page("<b>停用</b>", "<i>off</i>")
    assert "&lt;b&gt;停用&lt;/b&gt;" in page and "&lt;i&gt;off&lt;/i&gt;" in page and "<b>" not in page


def test_enquiry_rows_carry_the_raw_text_for_the_template_to_escape() -> None:
    view = View(lang="en", message=lambda key, lang, **v: key, url=str)
    row = {"text": "<script>", "ts": "2026-01-02T03:04:05", "channel": "web", "audience": None,
           "decision": "fallback", "intent": None, "score": 12.3, "feedback": -1}
    table = enquiries(view, {"rows": [row]})
    (decision, cells), = table["rows"]
    assert decision == "fallback"
    assert [value for (_, value), _ in cells] == ["<script>", "2026-01-02 03:04", "web", "", "fallback", "", "12",
                                                 "dash_not_helpful"]
    assert env().get_template("enquiries.html") is not None       # the template compiles


@pytest.mark.parametrize(("value", "expected"), [
    ("\u202e贴补 ydisbus\u202c", "[U+202E]贴补 ydisbus[U+202C]"),
    ("a\u2066b\u2069c", "a[U+2066]b[U+2069]c"),
    ("\u200f\u200e\u061c", "[U+200F][U+200E][U+061C]"),
])
def test_direction_controls_are_shown_as_codes(value: str, expected: str) -> None:
    """Issue 12 leftover: a right-to-left override showed raw in the enquiry list's question cell."""
    assert env().from_string("{{ cell }}").render(cell=value) == expected
