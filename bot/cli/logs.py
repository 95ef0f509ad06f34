"""`vocbot logs ...`: the staff's command line over the enquiry log."""

from __future__ import annotations

import io
import json
import re
import sqlite3
import sys
from collections.abc import Callable
from typing import Any

import click
import sqlite_utils

from bot.cli.loading import load_engine, settings_or_exit
from bot.config import Settings
from bot.errors import VocbotError

RECENT_DAYS_SHOWN = 31


def _connect(settings: Settings) -> sqlite3.Connection:
    """A connection to the existing log (migrated to the current schema), or a one-line error."""
    from bot.log.migrate import connect

    if not settings.db_path.exists():
        raise click.ClickException(f"There is no enquiry log at {settings.db_path}: run `vocbot serve` first, "
                                   "or set VOCBOT_DB to the log's path.")
    try:
        return connect(settings.db_path)
    except VocbotError as exc:
        raise click.ClickException(str(exc)) from None


def _query(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    conn = _connect(settings_or_exit())
    try:
        return fn(sqlite_utils.Database(conn), *args, **kwargs)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    except sqlite3.Error as exc:
        raise click.ClickException(f"Cannot read the enquiry log: {exc}.") from None
    finally:
        conn.close()


def _since(value: str | None) -> str | None:
    from bot.log.reports import since_iso

    try:
        return since_iso(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None


def _days(value: str | None, default: int) -> int:
    if value is None:
        return default
    match = re.fullmatch(r"\s*(\d+)\s*d?\s*", value)
    if not match or int(match.group(1)) < 1:
        raise click.BadParameter(f"{value!r} is not a number of days like 180d.", param_hint="--older-than")
    return int(match.group(1))


since_option = click.option("--since", metavar="DATE", help="Only enquiries from this UTC date on (2026-01-31).")


@click.group()
def logs() -> None:
    """Read, export, purge and learn from the enquiry log."""


@logs.command("stats")
@since_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def stats_command(since: str | None, as_json: bool) -> None:
    """Enquiries by day and channel, decision mix, top intents, fallback rate, feedback, latency."""
    from bot.log.reports import stats

    result = _query(stats, _since(since))
    click.echo(json.dumps(result, ensure_ascii=False, indent=2) if as_json else format_stats(result))


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def format_stats(s: dict[str, Any]) -> str:
    """The stats as plain text for a terminal."""
    total = s["total"]
    lines = [f"Enquiries{' since ' + s['since'] if s['since'] else ''}: {total} "
             f"({s['typed']} typed, {s['buttons']} buttons)",
             "By channel: " + (", ".join(f"{c} {n}" for c, n in sorted(s["channels"].items())) or "-"),
             "Decisions: " + ", ".join(f"{d} {n} ({_pct(n, total)})" for d, n in s["decisions"].items()),
             "Fallback rate (typed questions): "
             + (f"{100 * s['fallback_rate']:.1f}%" if s["fallback_rate"] is not None else "-")]
    fb = s["feedback"]
    share = f" ({100 * fb['up_share']:.0f}% 👍)" if fb["up_share"] is not None else ""
    lines.append(f"Feedback: 👍 {fb['up']}  👎 {fb['down']}{share}")
    lat = s["latency_ms"]
    lines.append("Engine latency: " + (f"median {lat['median']:.2f} ms, p95 {lat['p95']:.2f} ms"
                                       if lat["median"] is not None else "-"))
    if s["top_intents"]:
        lines.append("Top intents:")
        lines += [f"  {row['count']:>7}  {row['intent']}" for row in s["top_intents"]]
    routes = s.get("route_finder") or {}
    lines.append(f"Route finder results: {routes.get('total', 0)}")
    for row in routes.get("profiles", []):
        lines.append(f"  {row['count']:>7}  {row['flow']}/{row['profile']}")
    if routes.get("results"):
        lines.append("Route finder, where people end:")
        lines += [f"  {row['count']:>7}  {row['flow']}: " + " → ".join(row["answers"].values())
                  for row in routes["results"]]
    days: dict[str, dict[str, int]] = {}
    for row in s["by_day"]:
        days.setdefault(row["day"], {})[row["channel"]] = row["count"]
    if days:
        shown = sorted(days)[-RECENT_DAYS_SHOWN:]
        lines.append("By day (UTC):" if len(shown) == len(days) else
                     f"By day (UTC), last {len(shown)} of {len(days)} days (use --since or --json for all):")
        for day in shown:
            parts = "  ".join(f"{c} {n}" for c, n in sorted(days[day].items()))
            lines.append(f"  {day}  {sum(days[day].values()):>6}  {parts}")
    return "\n".join(lines)


@logs.command("unanswered")
@since_option
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True, help="Clusters shown.")
@click.option("--json", "as_json", is_flag=True, help="One JSON array of clusters.")
def unanswered_command(since: str | None, limit: int, as_json: bool) -> None:
    """Fallbacks, clarifications and 👎 answers, clustered by similar wording, largest first."""
    from bot.log.reports import unanswered

    bound = _since(since)
    settings = settings_or_exit()
    _connect(settings).close()                 # a missing log is reported before the engine loads
    clusters = _query(unanswered, bound, limit, load_engine(settings))
    if as_json:
        click.echo(json.dumps(clusters, ensure_ascii=False, indent=2))
        return
    if not clusters:
        click.echo("No unanswered or disliked questions" + (f" since {since}." if since else "."))
        return
    for c in clusters:
        reasons = ", ".join(f"{k} {v}" for k, v in c["reasons"].items() if v)
        hint = (f" -> {c['suggestion']['intent']} ({c['suggestion']['score']:.0f})" if c["suggestion"] else "")
        click.echo(f"{c['count']:>5}x  {c['text']}  [{reasons}]{hint}  (enquiry {c['enquiry_id']})")
        for q in c["questions"][1:6]:
            click.echo(f"         {q['count']}x {q['text']}")


@logs.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True)
@since_option
def export_command(fmt: str, since: str | None) -> None:
    """Every enquiry to standard output: CSV, or one JSON object per line."""
    from bot.log.reports import write_csv, write_jsonl

    sys.stdout.flush()
    out = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="")
    try:
        _query(write_csv if fmt == "csv" else write_jsonl, out, _since(since))
    finally:
        out.flush()
        out.detach()          # leave standard output open


@logs.command("purge")
@click.option("--older-than", "older_than", metavar="DAYS",
              help="Delete enquiries older than this, e.g. 180d (default VOCBOT_RETENTION_DAYS, 180).")
@click.option("--vacuum", is_flag=True, help="Also compact the file to give the space back to the disk.")
def purge_command(older_than: str | None, vacuum: bool) -> None:
    """Delete old enquiries with their feedback, handoffs and staff replies (retention)."""
    from bot.log.reports import purge

    settings = settings_or_exit()
    days = _days(older_than, settings.retention_days)
    conn = _connect(settings)
    try:
        result = purge(conn, days)
        if vacuum:
            conn.execute("VACUUM")
    except sqlite3.Error as exc:
        raise click.ClickException(f"Cannot purge the enquiry log: {exc}. Try again when it is less busy.") from None
    finally:
        conn.close()
    others = ", ".join(f"{result[k]} {k.replace('_', ' ')}" for k in
                       ("feedback", "handoffs", "staff_replies", "promotions", "user_prefs"))
    click.echo(f"purged {result['enquiries']} enquiries older than {days} days (before {result['cutoff'][:19]}Z) "
               f"and {others}")


@logs.command("promote")
@click.argument("enquiry_id")
@click.argument("intent_id")
def promote_command(enquiry_id: str, intent_id: str) -> None:
    """Add the question of ENQUIRY_ID as an example of INTENT_ID (in intents/learned.yaml)."""
    from bot.core.learn import promote_text
    from bot.log.records import promotion_row
    from bot.log.reports import get_enquiry

    settings = settings_or_exit()
    row = _query(get_enquiry, enquiry_id)
    if row is None:
        raise click.ClickException(f"There is no enquiry {enquiry_id!r} in {settings.db_path}.")
    if row["via"] != "text":
        raise click.ClickException(f"Enquiry {enquiry_id} was a pressed button, not a typed question.")
    engine = load_engine(settings)
    try:
        done = promote_text(settings.intents_dir, engine, intent_id, row["text"], row["lang"])
    except VocbotError as exc:
        raise click.ClickException(str(exc)) from None
    _record(settings, promotion_row(enquiry_id, intent_id, done.text, done.normalized, done.lang, "cli"))
    if not done.added:
        click.echo(f"{done.text!r} already is an example of {intent_id}; nothing to add.")
        return
    reply = load_engine(settings).ask(done.text, lang=done.lang)
    click.echo(f"added {done.text!r} ({done.lang}) to {intent_id} in {done.path}")
    if reply.decision == "answer" and reply.intent == intent_id:
        click.echo(f"it now matches {intent_id} (score {reply.score:.0f}); reload or restart the bot to use it.")
    else:
        click.echo(f"warning: it still gets {reply.decision} {reply.intent or ''}; check `vocbot intents check`.",
                   err=True)


def _record(settings: Settings, row: dict[str, Any]) -> None:
    """Note the promotion in the log, so the unanswered list stops showing the question."""
    conn = _connect(settings)
    try:
        conn.execute("INSERT INTO promotions (enquiry_id, ts, intent, text, normalized, lang, staff) "
                     "VALUES (:enquiry_id, :ts, :intent, :text, :normalized, :lang, :staff)", row)
    except sqlite3.Error as exc:
        click.echo(f"warning: the example was added, but the log could not record it: {exc}", err=True)
    finally:
        conn.close()
