"""What the staff pages show, as plain values for the Jinja2 templates in bot/staff/templates (autoescaped)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from html import escape
from typing import Any

from markupsafe import Markup

from bot.staff import charts

CHANNELS = ("telegram", "wechat", "web", "terminal")
DECISIONS = ("answer", "clarify", "fallback", "route")


@dataclass
class View:
    """What every page needs: language, texts, links, the CSRF token, the signed-in account and the notices."""

    lang: str
    message: Callable[..., str]
    url: Callable[..., str]
    csrf: str = ""
    active: str = ""
    notices: list[tuple[str, str]] = field(default_factory=list)   # (kind, text): info | error
    title_of: Callable[[str], str] = str
    route_label: Callable[[str, Mapping[str, str]], str] = lambda flow, answers: " → ".join([flow, *answers.values()])
    user: str = ""

    def t(self, key: str, **values: Any) -> str:
        """An interface text of the dashboard in the page's language."""
        return self.message("dash_" + key, self.lang, **values)

    def csrf_field(self) -> Markup:
        """The hidden CSRF input every form carries."""
        return Markup('<input type="hidden" name="csrf" value="{}">').format(self.csrf)


# Direction overrides, embeddings and isolates would reorder the rest of a cell (or page): show them as codes.
_BIDI = re.compile("[\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]")


def show_bidi(value: Any) -> Any:
    """Every value a template prints: a plain string with its direction controls shown as [U+XXXX]."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return _BIDI.sub(lambda m: f"[U+{ord(m.group()):04X}]", value)
    return value


def disabled_page(zh: str, en: str) -> str:
    """The only page served while the dashboard has no account (both languages, no assets, no template engine)."""
    return ('<!doctype html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1"><title>vocbot</title></head>'
            f'<body><p>{escape(zh)}</p><p lang="en">{escape(en)}</p></body></html>\n')


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def overview(view: View, stats: Mapping[str, Any], first_day: str, last_day: str) -> dict[str, Any]:
    """KPIs and the four charts (SVG, built and escaped by bot.staff.charts)."""
    lat = stats["latency_ms"]
    latency = "–" if lat["median"] is None else f"{lat['median']:.1f} / {lat['p95']:.1f} ms"
    kpis = [(view.t("kpi_total"), f"{stats['total']:,}"), (view.t("kpi_typed"), f"{stats['typed']:,}"),
            (view.t("kpi_fallback"), _pct(stats["fallback_rate"])),
            (view.t("kpi_feedback"), _pct(stats["feedback"]["up_share"])), (view.t("kpi_latency"), latency)]
    per_day: dict[str, dict[str, int]] = {}
    for row in stats["by_day"]:
        per_day.setdefault(row["channel"], {})[row["day"]] = row["count"]
    channels = [c for c in CHANNELS if c in per_day] + sorted(c for c in per_day if c not in CHANNELS)
    all_days = charts.day_range(first_day, last_day) if first_day <= last_day else []
    labels, series = charts.bucket_days(all_days, {c: per_day[c] for c in channels})
    decisions = [(d, stats["decisions"].get(d, 0)) for d in DECISIONS]
    intents = [(view.title_of(row["intent"]), row["count"]) for row in stats["top_intents"]]
    fb = stats["feedback"]
    figures = [
        (view.t("chart_days"), charts.stacked_bars(labels, series, view.t("chart_days"))),
        (view.t("chart_decisions"), charts.hbars(decisions, view.t("chart_decisions"))),
        (view.t("chart_intents"), charts.hbars(intents, view.t("chart_intents"),
                                               names=[f"i{i}" for i in range(len(intents))])),
        (view.t("chart_feedback"), charts.hbars([(view.t("helpful"), fb["up"]), (view.t("not_helpful"), fb["down"])],
                                                view.t("chart_feedback"), names=["up", "down"])),
        *_route_charts(view, stats.get("route_finder") or {}),
    ]
    # The SVG is markup made by charts.py, which escapes every label it draws.
    return {"kpis": kpis, "figures": [(c, Markup(svg)) for c, svg in figures]}  # noqa: S704


def _route_charts(view: View, routes: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Who uses the route finder (flow and first answer) and which results they end on."""
    profiles = [(view.route_label(r["flow"], {"": r["profile"]} if r["profile"] else {}), r["count"])
                for r in routes.get("profiles", [])]
    results = [(view.route_label(r["flow"], r["answers"]), r["count"]) for r in routes.get("results", [])]
    return [(view.t("chart_route_profiles"), charts.hbars(profiles, view.t("chart_route_profiles"),
                                                          names=[f"p{i}" for i in range(len(profiles))])),
            (view.t("chart_route_results"), charts.hbars(results, view.t("chart_route_results"),
                                                         names=[f"r{i}" for i in range(len(results))]))]


def _feedback_mark(view: View, value: int | None) -> str:
    return {1: view.t("helpful"), -1: view.t("not_helpful")}.get(value or 0, "")


def enquiries(view: View, result: Mapping[str, Any]) -> dict[str, Any]:
    """The table of one page of enquiries."""
    labels = (view.t("col_question"), view.t("col_time"), view.t("channel"), view.t("audience"), view.t("decision"),
              view.t("intent"), view.t("col_score"), view.t("col_feedback"))
    rows = []
    for r in result["rows"]:
        cells = [("question", r["text"]), ("nowrap", r["ts"][:16].replace("T", " ")), ("", r["channel"]),
                 ("", r["audience"] or ""), ("decision", r["decision"]), ("", r["intent"] or ""),
                 ("num", "" if r["score"] is None else f"{r['score']:.0f}"), ("", _feedback_mark(view, r["feedback"]))]
        rows.append((r["decision"], list(zip(cells, labels, strict=True))))
    return {"labels": labels, "rows": rows, "channels": [(c, c) for c in CHANNELS],
            "decisions": [(d, d) for d in DECISIONS]}
