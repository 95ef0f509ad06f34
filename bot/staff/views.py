"""HTML of the staff dashboard: a tiny template helper that escapes every value unless marked safe."""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any
from urllib.parse import urlencode

from bot.staff import charts

CHANNELS = ("telegram", "wechat", "web", "terminal")
DECISIONS = ("answer", "clarify", "fallback", "route")
PERIODS = (7, 30, 90, 365)


class Safe(str):
    """Text that already is HTML (built by this module); everything else gets escaped."""

    __slots__ = ()


def esc(value: Any) -> Safe:
    """HTML-escape a value (quotes too, so it is safe in attributes), unless it is Safe."""
    if isinstance(value, Safe):
        return value
    return Safe(escape(_BIDI.sub(_show_code, "" if value is None else str(value)), quote=True))


# Direction overrides, embeddings and isolates would reorder the rest of a cell (or page): show them as codes.
_BIDI = re.compile("[\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]")


def _show_code(match: re.Match[str]) -> str:
    return f"[U+{ord(match.group()):04X}]"


class _Escaping(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        if value is None or (isinstance(value, Safe) and not format_spec):
            return esc(value)
        return esc(format(value, format_spec))


_FORMATTER = _Escaping()


def html(template: str, **values: Any) -> Safe:
    """Fill {placeholders} of an HTML template; every value is escaped unless it is Safe."""
    return Safe(_FORMATTER.vformat(template, (), values))


def join(parts: Iterable[Any], sep: str = "") -> Safe:
    """Concatenate fragments, escaping those that are not Safe."""
    return Safe(sep.join(esc(p) for p in parts))


@dataclass
class View:
    """What every page needs: language, texts, links, the CSRF token and the notices to show."""

    lang: str
    message: Callable[..., str]
    url: Callable[..., str]
    csrf: str = ""
    active: str = ""
    notices: list[tuple[str, str]] = field(default_factory=list)   # (kind, text): info | error
    title_of: Callable[[str], str] = str
    route_label: Callable[[str, Mapping[str, str]], str] = lambda flow, answers: " → ".join([flow, *answers.values()])

    def t(self, key: str, **values: Any) -> str:
        """An interface text of the dashboard in the page's language."""
        return self.message("dash_" + key, self.lang, **values)


def _csrf(view: View) -> Safe:
    return html('<input type="hidden" name="csrf" value="{token}">', token=view.csrf)


def page(view: View, title: str, body: Safe, *, nav: bool = True) -> str:
    """A whole page: head, navigation, notices and the body."""
    links = []
    if nav:
        for name, key in (("overview", "nav_overview"), ("enquiries", "nav_enquiries"),
                          ("unanswered", "nav_unanswered")):
            current = Safe(' aria-current="page"') if name == view.active else Safe("")
            links.append(html('<a href="{href}"{current}>{label}</a>', href=view.url(name), current=current,
                              label=view.t(key)))
        links.append(html('<a href="{href}">{label}</a>', href=view.url("export"), label=view.t("nav_export")))
    other = "en" if view.lang == "zh" else "zh"
    links.append(html('<a href="?{query}" lang="{other}">{label}</a>', query=urlencode({"lang": other}), other=other,
                      label="English" if other == "en" else "中文"))
    logout = html('<form method="post" action="{action}" class="inline">{csrf}<button type="submit">{label}</button>'
                  "</form>", action=view.url("logout"), csrf=_csrf(view), label=view.t("logout")) if nav else Safe("")
    notices = join(html('<p class="notice {kind}" role="{role}">{text}</p>', kind=kind, text=text,
                        role="alert" if kind == "error" else "status") for kind, text in view.notices)
    return html(
        '<!doctype html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex">'
        "<title>{title} · {app}</title>"
        '<link rel="icon" href="data:,"><link rel="stylesheet" href="{css}"></head>'
        '<body><header><strong class="brand">{app}</strong><nav>{links}</nav>{logout}</header>'
        "<main><h1>{title}</h1>{notices}{body}</main></body></html>\n",
        lang="zh-CN" if view.lang == "zh" else "en", title=title, app=view.t("title"), css=view.url("css"),
        links=join(links), logout=logout, notices=notices, body=body)


def disabled_page(zh: str, en: str) -> str:
    """The only page served while VOCBOT_STAFF_PASSWORD is unset (both languages, no assets)."""
    return html('<!doctype html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
                '<meta name="viewport" content="width=device-width, initial-scale=1"><title>vocbot</title></head>'
                '<body><p>{zh}</p><p lang="en">{en}</p></body></html>\n', zh=zh, en=en)


def login_page(view: View) -> str:
    """The sign-in form."""
    body = html('<form method="post" action="{action}" class="login">{csrf}'
                '<label for="password">{label}</label>'
                '<input id="password" name="password" type="password" autocomplete="current-password" required '
                'autofocus><button type="submit">{button}</button></form>',
                action=view.url("login"), csrf=_csrf(view), label=view.t("password"), button=view.t("login_button"))
    return page(view, view.t("login_title"), body, nav=False)


def message_page(view: View, title: str, text: str, *, nav: bool = True) -> str:
    """A page with one sentence (forbidden, not found)."""
    return page(view, title, html("<p>{text}</p>", text=text), nav=nav)


# ---- overview -----------------------------------------------------------------------------------------
def _period_links(view: View, route: str, current: int | None, extra: Mapping[str, str] | None = None) -> Safe:
    items = []
    for days in (*PERIODS, None):
        label = view.t("days", n=days) if days else view.t("period_all")
        query = urlencode({**(extra or {}), "days": days or "all"})
        attr = Safe(' aria-current="true"') if days == current else Safe("")
        items.append(html('<a href="{href}?{query}"{attr}>{label}</a>', href=view.url(route), query=query,
                          attr=attr, label=label))
    return html('<p class="periods">{label}: {items}</p>', label=view.t("period"), items=join(items, " "))


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def overview_page(view: View, stats: Mapping[str, Any], days: int | None, first_day: str, last_day: str) -> str:
    """KPIs and the four charts, for the chosen period."""
    lat = stats["latency_ms"]
    latency = "–" if lat["median"] is None else f"{lat['median']:.1f} / {lat['p95']:.1f} ms"
    kpis = [(view.t("kpi_total"), f"{stats['total']:,}"), (view.t("kpi_typed"), f"{stats['typed']:,}"),
            (view.t("kpi_fallback"), _pct(stats["fallback_rate"])),
            (view.t("kpi_feedback"), _pct(stats["feedback"]["up_share"])), (view.t("kpi_latency"), latency)]
    cards = join(html('<div class="kpi"><span>{label}</span><strong>{value}</strong></div>', label=k, value=v)
                 for k, v in kpis)
    per_day: dict[str, dict[str, int]] = {}
    for row in stats["by_day"]:
        per_day.setdefault(row["channel"], {})[row["day"]] = row["count"]
    channels = [c for c in CHANNELS if c in per_day] + sorted(c for c in per_day if c not in CHANNELS)
    all_days = charts.day_range(first_day, last_day) if first_day <= last_day else []
    labels, series = charts.bucket_days(all_days, {c: per_day[c] for c in channels})
    decisions = [(d, stats["decisions"].get(d, 0)) for d in DECISIONS]
    intents = [(view.title_of(row["intent"]), row["count"]) for row in stats["top_intents"]]
    fb = stats["feedback"]
    sections = [
        (view.t("chart_days"), charts.stacked_bars(labels, series, view.t("chart_days"))),
        (view.t("chart_decisions"), charts.hbars(decisions, view.t("chart_decisions"))),
        (view.t("chart_intents"), charts.hbars(intents, view.t("chart_intents"),
                                               names=[f"i{i}" for i in range(len(intents))])),
        (view.t("chart_feedback"), charts.hbars([(view.t("helpful"), fb["up"]), (view.t("not_helpful"), fb["down"])],
                                                view.t("chart_feedback"),
                                                names=["up", "down"])),
        *_route_charts(view, stats.get("route_finder") or {}),
    ]
    figures = join(html('<figure><figcaption>{caption}</figcaption>{svg}</figure>', caption=c, svg=Safe(svg))
                   for c, svg in sections)
    body = html('{periods}<div class="kpis">{cards}</div><div class="charts">{figures}</div>',
                periods=_period_links(view, "overview", days), cards=cards, figures=figures)
    return page(view, view.t("nav_overview"), body)


def _route_charts(view: View, routes: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Who uses the route finder (flow and first answer) and which results they end on."""
    profiles = [(view.route_label(r["flow"], {"": r["profile"]} if r["profile"] else {}), r["count"])
                for r in routes.get("profiles", [])]
    results = [(view.route_label(r["flow"], r["answers"]), r["count"]) for r in routes.get("results", [])]
    return [(view.t("chart_route_profiles"), charts.hbars(profiles, view.t("chart_route_profiles"),
                                                          names=[f"p{i}" for i in range(len(profiles))])),
            (view.t("chart_route_results"), charts.hbars(results, view.t("chart_route_results"),
                                                         names=[f"r{i}" for i in range(len(results))]))]


# ---- enquiries ----------------------------------------------------------------------------------------
def _select(name: str, label: str, options: Sequence[tuple[str, str]], chosen: str, any_label: str) -> Safe:
    opts = [html('<option value="">{label}</option>', label=any_label)]
    for value, text in options:
        selected = Safe(" selected") if value == chosen else Safe("")
        opts.append(html('<option value="{value}"{selected}>{text}</option>', value=value, selected=selected,
                         text=text))
    return html('<label>{label}<select name="{name}">{opts}</select></label>', label=label, name=name, opts=join(opts))


def _feedback_mark(view: View, value: int | None) -> str:
    return {1: view.t("helpful"), -1: view.t("not_helpful")}.get(value or 0, "")


def enquiries_page(view: View, result: Mapping[str, Any], filters: Mapping[str, str],
                   intents: Sequence[tuple[str, str]], audiences: Sequence[tuple[str, str]]) -> str:
    """The filter form and one page of enquiries."""
    get = filters.get
    form = html(
        '<form method="get" action="{action}" class="filters">'
        '<label>{l_since}<input type="date" name="since" value="{since}"></label>'
        '<label>{l_until}<input type="date" name="until" value="{until}"></label>'
        "{channel}{decision}{intent}{audience}"
        '<label class="wide">{l_q}<input type="search" name="q" value="{q}" maxlength="200"></label>'
        '<button type="submit">{filter}</button> <a href="{action}">{reset}</a></form>',
        action=view.url("enquiries"), l_since=view.t("since"), since=get("since", ""), l_until=view.t("until"),
        until=get("until", ""),
        channel=_select("channel", view.t("channel"), [(c, c) for c in CHANNELS], get("channel", ""), view.t("any")),
        decision=_select("decision", view.t("decision"), [(d, d) for d in DECISIONS], get("decision", ""),
                         view.t("any")),
        intent=_select("intent", view.t("intent"), intents, get("intent", ""), view.t("any")),
        audience=_select("audience", view.t("audience"), audiences, get("audience", ""), view.t("any")),
        l_q=view.t("search"), q=get("q", ""), filter=view.t("filter"), reset=view.t("reset"))
    labels = (view.t("col_question"), view.t("col_time"), view.t("channel"), view.t("audience"), view.t("decision"),
              view.t("intent"), view.t("col_score"), view.t("col_feedback"))
    rows = []
    for r in result["rows"]:
        cells = [("question", r["text"]), ("nowrap", r["ts"][:16].replace("T", " ")), ("", r["channel"]),
                 ("", r["audience"] or ""), ("decision", r["decision"]), ("", r["intent"] or ""),
                 ("num", "" if r["score"] is None else f"{r['score']:.0f}"), ("", _feedback_mark(view, r["feedback"]))]
        rows.append(html('<tr class="{decision}">{cells}</tr>', decision=r["decision"], cells=join(
            html('<td class="{cls}" data-label="{label}">{value}</td>', cls=cls, label=label, value=value)
            for (cls, value), label in zip(cells, labels, strict=True))))
    head = join(html("<th>{h}</th>", h=h) for h in labels)
    table = (html('<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>',
                  head=head, rows=join(rows)) if rows else html("<p>{none}</p>", none=view.t("none")))
    pager = []
    page_no, pages = result["page"], result["pages"]
    if page_no > 1:
        pager.append(html('<a href="{href}?{q}" rel="prev">{label}</a>', href=view.url("enquiries"),
                          q=urlencode({**filters, "page": page_no - 1}), label=view.t("prev")))
    if page_no < pages:
        pager.append(html('<a href="{href}?{q}" rel="next">{label}</a>', href=view.url("enquiries"),
                          q=urlencode({**filters, "page": page_no + 1}), label=view.t("next")))
    body = html('{form}<p class="count">{count}</p>{table}<nav class="pager">{pager}</nav>', form=form,
                count=view.t("results", total=f"{result['total']:,}", page=page_no, pages=pages), table=table,
                pager=join(pager, " "))
    return page(view, view.t("nav_enquiries"), body)


# ---- unanswered ---------------------------------------------------------------------------------------
def unanswered_page(view: View, clusters: Sequence[Mapping[str, Any]], days: int | None,
                    intents: Sequence[tuple[str, str]]) -> str:
    """The clusters of unanswered questions, each with a one-click promote form."""
    cards = []
    for c in clusters:
        suggestion = (c.get("suggestion") or {}).get("intent") or ""
        options = join(html('<option value="{value}"{sel}>{text}</option>', value=value, text=text,
                            sel=Safe(" selected") if value == suggestion else Safe("")) for value, text in intents)
        others = [html("<li>{text} <span class=\"muted\">{n}</span></li>", text=q["text"],
                       n=view.t("times", n=q["count"])) for q in c["questions"][1:6]]
        also = (html('<details><summary>{label} ({n})</summary><ul>{items}</ul></details>',
                     label=view.t("also_asked"), n=len(c["questions"]) - 1, items=join(others))
                if others else Safe(""))
        suggested = (html('<p class="muted">{label}: {title} ({score})</p>', label=view.t("suggested"),
                          title=view.title_of(suggestion), score=f"{c['suggestion']['score']:.0f}")
                     if suggestion else Safe(""))
        cards.append(html(
            '<article class="cluster"><p class="count">{times}</p><p class="question">{text}</p>'
            '<p class="muted">{reasons}</p>{also}{suggested}'
            '<form method="post" action="{action}" class="promote">{csrf}'
            '<input type="hidden" name="enquiry_id" value="{enquiry_id}">'
            '<label>{l_intent}<select name="intent">{options}</select></label>'
            '<button type="submit">{button}</button></form></article>',
            times=view.t("times", n=c["count"]), text=c["text"], reasons=view.t("reasons", **c["reasons"]),
            also=also, suggested=suggested, action=view.url("promote"), csrf=_csrf(view),
            enquiry_id=c["enquiry_id"], l_intent=view.t("intent"), options=options, button=view.t("promote")))
    listing = join(cards) if cards else html("<p>{none}</p>", none=view.t("none"))
    body = html('<p class="intro">{intro}</p>{periods}{listing}', intro=view.t("unanswered_intro"),
                periods=_period_links(view, "unanswered", days), listing=listing)
    return page(view, view.t("nav_unanswered"), body)
