"""Small server-rendered SVG charts for the staff dashboard: no script, no external asset, text escaped."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from html import escape

PALETTE = ("#2f6db5", "#3c9a5f", "#d08a1e", "#c2453d", "#7a5fb0", "#5f6b7a", "#1f9aa3", "#b5527a")
COLORS = {"telegram": "#2f6db5", "wechat": "#1aad19", "web": "#3c9a5f", "terminal": "#5f6b7a",
          "answer": "#3c9a5f", "clarify": "#d08a1e", "fallback": "#c2453d", "up": "#3c9a5f", "down": "#c2453d"}
MAX_BARS = 120


def color(name: str, index: int = 0) -> str:
    """The fixed colour of a channel, decision or rating, else one from the palette."""
    return COLORS.get(name, PALETTE[index % len(PALETTE)])


def _x(value: object) -> str:
    return escape(str(value), quote=True)


def _nice_step(value: float) -> int:
    """A round whole step at or above value: 1, 2 or 5 times a power of ten."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return int(step * power)
    return int(10 * power)


def day_range(first: str, last: str) -> list[str]:
    """Every day from first to last (YYYY-MM-DD), inclusive."""
    start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    return [(start + dt.timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def bucket_days(days: list[str], series: Mapping[str, Mapping[str, int]]) -> tuple[list[str], dict[str, list[int]]]:
    """Group days into at most MAX_BARS buckets (labelled by their first day); sum each series per bucket."""
    size = max(1, math.ceil(len(days) / MAX_BARS))
    labels = [days[i] for i in range(0, len(days), size)]
    out = {name: [sum(values.get(d, 0) for d in days[i:i + size]) for i in range(0, len(days), size)]
           for name, values in series.items()}
    return labels, out


def stacked_bars(labels: Sequence[str], series: Mapping[str, Sequence[int]], title: str, *,
                 width: int = 480, height: int = 210, unit: str = "") -> str:
    """Vertical bars stacked by series (e.g. enquiries per day by channel), with a legend and tooltips."""
    left, right, top, bottom = 40, 6, 30, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(values[i] for values in series.values()) for i in range(len(labels))]
    step = _nice_step(max(totals, default=0) / 4)
    top_value = step * 4
    parts = [_open(width, height, title), _axis(left, top, plot_w, plot_h, step)]
    if labels:
        slot = plot_w / len(labels)
        bar = max(1.0, slot * 0.8)
        for i, label in enumerate(labels):
            y = top + plot_h
            for j, (name, values) in enumerate(series.items()):
                value = values[i]
                if not value:
                    continue
                h = plot_h * value / top_value
                y -= h
                parts.append(f'<rect x="{left + i * slot + (slot - bar) / 2:.2f}" y="{y:.2f}" width="{bar:.2f}" '
                             f'height="{h:.2f}" fill="{color(name, j)}"><title>{_x(label)} {_x(name)}: '
                             f'{value}{_x(unit)}</title></rect>')
        for i in sorted({0, len(labels) // 2, len(labels) - 1}):
            anchor = "start" if i == 0 else "end" if i == len(labels) - 1 else "middle"
            x = left if anchor == "start" else left + plot_w if anchor == "end" else left + i * slot + slot / 2
            parts.append(f'<text x="{x:.2f}" y="{height - 6}" font-size="12" text-anchor="{anchor}" '
                         f'fill="#444">{_x(label_short(labels[i]))}</text>')
    parts.append(_legend(list(series), left, 16))
    parts.append("</svg>")
    return "".join(parts)


def label_short(label: str) -> str:
    """A day label without the year when it is a date."""
    return label[5:] if len(label) == 10 and label[4] == "-" else label


def hbars(items: Sequence[tuple[str, int]], title: str, *, names: Sequence[str] | None = None,
          width: int = 400) -> str:
    """Horizontal bars, each with its label above it and its value after it (decisions, intents, feedback)."""
    row, top = 38, 4
    height = top + row * max(1, len(items)) + 4
    plot_w = width - 50
    top_value = max((v for _, v in items), default=0) or 1
    parts = [_open(width, height, title)]
    if not items:
        parts.append(f'<text x="0" y="{top + 18}" font-size="13" fill="#666">–</text>')
    for i, (label, value) in enumerate(items):
        y = top + i * row
        w = plot_w * value / top_value
        name = names[i] if names else label
        text = label if len(label) <= 48 else label[:47] + "…"
        parts.append(f'<text x="0" y="{y + 13}" font-size="13" fill="#222">{_x(text)}<title>{_x(label)}</title>'
                     "</text>")
        parts.append(f'<rect x="0" y="{y + 18}" width="{max(w, 1 if value else 0):.2f}" height="14" '
                     f'fill="{color(name, i)}"><title>{_x(label)}: {value}</title></rect>')
        parts.append(f'<text x="{w + 6:.2f}" y="{y + 30}" font-size="12" fill="#222">{value}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _open(width: int, height: int, title: str) -> str:
    return (f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'role="img" aria-label="{_x(title)}"><title>{_x(title)}</title>')


def _axis(left: int, top: int, plot_w: float, plot_h: float, step: int) -> str:
    out = []
    for k in range(5):
        y = top + plot_h - plot_h * k / 4
        out.append(f'<line x1="{left}" y1="{y:.2f}" x2="{left + plot_w:.2f}" y2="{y:.2f}" stroke="#e3e3e3"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.2f}" font-size="12" text-anchor="end" fill="#666">'
                   f'{_num(step * k)}</text>')
    return "".join(out)


def _num(value: int) -> str:
    return f"{value / 1000:.0f}k" if value >= 10_000 else str(value)


def _legend(names: list[str], x: int, y: int) -> str:
    out = []
    for i, name in enumerate(names):
        out.append(f'<rect x="{x}" y="{y - 10}" width="11" height="11" fill="{color(name, i)}"/>'
                   f'<text x="{x + 15}" y="{y}" font-size="12" fill="#222">{_x(name)}</text>')
        x += 26 + 7 * len(name)
    return "".join(out)
