"""Server-side SVG charts: axis steps, day buckets, bar geometry and escaped labels."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from bot.staff import charts

SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize(("value", "step"), [(0, 1), (0.5, 1), (1, 1), (1.25, 2), (3, 5), (7, 10), (12, 20),
                                             (250, 500), (2501, 5000)])
def test_axis_steps_are_round(value: float, step: int) -> None:
    assert charts._nice_step(value) == step


def test_day_range_is_inclusive() -> None:
    assert charts.day_range("2026-02-27", "2026-03-02") == ["2026-02-27", "2026-02-28", "2026-03-01", "2026-03-02"]


@pytest.mark.parametrize(("days", "labels", "sums"), [
    (3, ["d0", "d1", "d2"], [1, 2, 2]),
    (240, [f"d{i}" for i in range(0, 240, 2)], [3] + [4 * i + 1 for i in range(1, 120)]),   # two days a bar
])
def test_many_days_are_grouped_into_at_most_120_bars(days: int, labels: list[str], sums: list[int]) -> None:
    names = [f"d{i}" for i in range(days)]
    got_labels, series = charts.bucket_days(names, {"web": {f"d{i}": i for i in range(days)},
                                                    "telegram": {"d0": 1, "d1": 1}})
    assert got_labels == labels
    assert [a + b for a, b in zip(series["web"], series["telegram"], strict=True)] == sums


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 - our own output; well-formed XML, or this raises


def test_stacked_bars_stack_each_day_and_scale_to_the_axis() -> None:
    svg = charts.stacked_bars(["2026-03-01", "2026-03-02"], {"web": [3, 0], "telegram": [5, 2]}, "per day")
    root = parse(svg)
    bars = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert [r.find(f"{SVG}title").text for r in bars] == ["2026-03-01 web: 3", "2026-03-01 telegram: 5",
                                                          "2026-03-02 telegram: 2"]
    heights = [float(r.get("height")) for r in bars]
    assert heights[0] / heights[1] == pytest.approx(3 / 5)
    ticks = [t.text for t in root.iter(f"{SVG}text")][:5]
    assert ticks == ["0", "2", "4", "6", "8"]                                     # 8 is the top of a 2-step axis
    assert {r.get("fill") for r in bars} == {charts.COLORS["web"], charts.COLORS["telegram"]}


def test_horizontal_bars_scale_to_the_largest() -> None:
    root = parse(charts.hbars([("answer", 10), ("clarify", 5), ("fallback", 0)], "mix"))
    widths = [float(r.get("width")) for r in root.iter(f"{SVG}rect")]
    assert widths[0] == 2 * widths[1] and widths[2] == 0


@pytest.mark.parametrize("label", ['<script>alert(1)</script>', '" onload="x', "a & b"])
def test_labels_are_escaped(label: str) -> None:
    for svg in (charts.hbars([(label, 1)], label), charts.stacked_bars([label], {label: [1]}, label)):
        root = parse(svg)
        assert "<script" not in svg and not re.search(r'"\s+onload=', svg)
        assert label in [t.text for t in root.iter(f"{SVG}title")]


def test_empty_charts_still_draw() -> None:
    parse(charts.hbars([], "nothing"))
    parse(charts.stacked_bars([], {}, "nothing"))
