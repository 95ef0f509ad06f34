"""Read-only reports over the enquiry log for staff: stats, unanswered clusters, export, search, purge."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import re
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TextIO

import numpy as np
import sqlite_utils
from rapidfuzz import fuzz, process

from bot.core.normalize import Normalizer
from bot.log.route_report import route_stats

CLUSTER_SIMILARITY = 75       # rapidfuzz ratio (0-100) at which two questions count as the same question
MAX_UNANSWERED_ROWS = 5000    # newest problem enquiries read for clustering
MAX_CLUSTER_KEYS = 2000       # distinct normalised questions compared pairwise (cost grows with the square)
TOP_INTENTS = 10
EXPORT_COLUMNS = ("id", "ts", "channel", "user_key", "chat_type", "lang", "audience", "via", "parent_id", "text",
                  "normalized", "decision", "intent", "score", "candidates", "latency_ms", "intents_version",
                  "feedback", "feedback_comment")
FILTERS = ("since", "until", "channel", "decision", "intent", "audience", "q")
# Spreadsheets also run a formula after leading blanks or line breaks, and read full-width signs as ASCII ones.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", " ", "\u3000", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_LATEST_FEEDBACK = "(SELECT max(f2.id) FROM feedback f2 WHERE f2.enquiry_id = e.id)"

Suggest = Callable[[str], Sequence[tuple[str, float]]]


# ---- dates ------------------------------------------------------------------------------------------
def since_iso(value: str | dt.date | dt.datetime | None) -> str | None:
    """A `since` bound as text comparable with the `ts` column: 'YYYY-MM-DD' or a full UTC timestamp."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return stamp.astimezone(dt.UTC).isoformat(timespec="microseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value).strip()
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text).isoformat()
        return since_iso(dt.datetime.fromisoformat(text))
    except ValueError:
        raise ValueError(f"{value!r} is not a date; write it like 2026-01-31.") from None


def _next_day(day: str) -> str:
    return (dt.date.fromisoformat(day[:10]) + dt.timedelta(days=1)).isoformat()


def _rows(db: sqlite_utils.Database, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[dict]:
    return list(db.query(sql, params))


# ---- stats ------------------------------------------------------------------------------------------
def stats(db: sqlite_utils.Database, since: str | dt.date | dt.datetime | None = None) -> dict[str, Any]:
    """Enquiries by day and channel, decision mix, top intents, fallback rate, feedback, latency."""
    bound = since_iso(since)
    # Whole days come from the summary table; a `since` inside a day adds that day's rows from the log.
    partial = bound is not None and len(bound) > 10
    params = {"day_from": (_next_day(bound) if partial else bound) if bound else "",
              "since": bound or "", "until": _next_day(bound) if partial else (bound or "")}
    by_day = _counted(db, _COUNTED, "SELECT day, channel, sum(n) AS count FROM counted GROUP BY day, channel "
                      "ORDER BY day, channel", params)
    mix = _counted(db, _COUNTED, "SELECT decision, via, sum(n) AS count FROM counted GROUP BY decision, via", params)
    top = _counted(db, _COUNTED_INTENTS, "SELECT intent, sum(n) AS count FROM counted GROUP BY intent "
                   "ORDER BY count DESC, intent LIMIT :top", {**params, "top": TOP_INTENTS})
    decisions = {"answer": 0, "clarify": 0, "fallback": 0}
    typed = buttons = typed_fallbacks = 0
    for row in mix:
        decisions[row["decision"]] = decisions.get(row["decision"], 0) + row["count"]
        if row["via"] == "text":
            typed += row["count"]
            typed_fallbacks += row["count"] if row["decision"] == "fallback" else 0
        else:
            buttons += row["count"]
    channels: dict[str, int] = {}
    for row in by_day:
        channels[row["channel"]] = channels.get(row["channel"], 0) + row["count"]
    return {"since": bound, "total": typed + buttons, "typed": typed, "buttons": buttons, "by_day": by_day,
            "channels": channels, "decisions": decisions,
            "fallback_rate": round(typed_fallbacks / typed, 4) if typed else None,
            "top_intents": top, "feedback": feedback_counts(db, bound), "latency_ms": latency(db, bound),
            "route_finder": route_stats(db, bound)}


_WORDS = re.compile(r"[^\W_]")
_COUNTED = ("WITH counted AS (SELECT day, channel, decision, via, n FROM enquiry_days WHERE day >= :day_from "
            "UNION ALL SELECT substr(ts, 1, 10), channel, decision, via, 1 FROM enquiries "
            "WHERE ts >= :since AND ts < :until) ")
_COUNTED_INTENTS = ("WITH counted AS (SELECT intent, n FROM intent_days WHERE day >= :day_from UNION ALL "
                    "SELECT intent, 1 FROM enquiries WHERE ts >= :since AND ts < :until AND decision = 'answer' "
                    "AND intent IS NOT NULL) ")


def _counted(db: sqlite_utils.Database, counted: str, select: str, params: Mapping[str, Any]) -> list[dict]:
    # Only constant SQL of this module is joined here; every value is a bound parameter.
    return _rows(db, counted + select, params)


def feedback_counts(db: sqlite_utils.Database, since: str | None = None) -> dict[str, Any]:
    """👍/👎 counts (the latest rating of each enquiry), the 👍 share and the 👍:👎 ratio."""
    rows = _rows(db, "SELECT f.value, count(*) AS count FROM feedback f WHERE f.id IN "
                 "(SELECT max(id) FROM feedback GROUP BY enquiry_id) AND f.ts >= ? GROUP BY f.value", [since or ""])
    counts = {row["value"]: row["count"] for row in rows}
    up, down = counts.get(1, 0), counts.get(-1, 0)
    return {"up": up, "down": down, "up_share": round(up / (up + down), 4) if up + down else None,
            "ratio": round(up / down, 4) if down else None}


def latency(db: sqlite_utils.Database, since: str | None = None) -> dict[str, float | None]:
    """Median and 95th percentile (nearest rank) of the engine's reply time, read along the latency index."""
    n = db.execute("SELECT count(*) FROM enquiries INDEXED BY idx_enquiries_latency "
                   "WHERE latency_ms IS NOT NULL AND ts >= ?", [since or ""]).fetchone()[0]
    out: dict[str, float | None] = {"median": None, "p95": None}
    for name, p in (("median", 0.5), ("p95", 0.95)):
        if n:
            rank = max(0, math.ceil(p * n) - 1)
            # Walk the index from the nearer end: the p95 is a short walk down from the top.
            order, offset = ("ASC", rank) if rank < n / 2 else ("DESC", n - 1 - rank)
            row = db.execute("SELECT latency_ms FROM enquiries INDEXED BY idx_enquiries_latency "  # noqa: S608 - ASC/DESC only
                             f"WHERE latency_ms IS NOT NULL AND ts >= ? ORDER BY latency_ms {order} LIMIT 1 OFFSET ?",
                             [since or "", offset])
            out[name] = row.fetchone()[0]
    return out


# ---- unanswered -------------------------------------------------------------------------------------
def problem_rows(db: sqlite_utils.Database, since: str | None = None,
                 max_rows: int = MAX_UNANSWERED_ROWS) -> list[dict]:
    """Typed questions that fell back, needed a clarification, or whose answer got 👎, newest first.

    Questions already promoted (that enquiry, or the same normalised text) are left out."""
    not_promoted = ("e.id NOT IN (SELECT enquiry_id FROM promotions) AND coalesce(e.normalized, '') NOT IN "
                    "(SELECT normalized FROM promotions WHERE normalized IS NOT NULL)")
    # S608: not_promoted is constant SQL of this module; values are bound parameters.
    failed = _rows(db, "SELECT e.id, e.ts, e.text, e.lang, e.decision, e.intent FROM enquiries e "  # noqa: S608
                   f"WHERE e.decision IN ('fallback', 'clarify') AND e.via = 'text' AND e.ts >= ? AND {not_promoted} "
                   "ORDER BY e.ts DESC LIMIT ?", [since or "", max_rows])
    disliked = _rows(db, "SELECT e.id, e.ts, e.text, e.lang, e.decision, e.intent FROM feedback f "  # noqa: S608
                     "JOIN enquiries e ON e.id = f.enquiry_id WHERE f.id IN (SELECT max(id) FROM feedback "
                     f"GROUP BY enquiry_id) AND f.value = -1 AND e.via = 'text' AND e.ts >= ? AND {not_promoted} "
                     "ORDER BY e.ts DESC LIMIT ?", [since or "", max_rows])
    rows: dict[str, dict] = {}
    for row in failed:
        rows[row["id"]] = {**row, "disliked": False}
    for row in disliked:
        rows.setdefault(row["id"], {**row, "disliked": False})["disliked"] = True
    return sorted(rows.values(), key=lambda r: r["ts"], reverse=True)[:max_rows]


def engine_suggest(engine: Any) -> Suggest:
    """A suggest callback from an engine: its top candidates for a question."""
    def suggest(text: str) -> list[tuple[str, float]]:
        return [(c.intent, c.score) for c in engine.ask(text).candidates]
    return suggest


def unanswered(db: sqlite_utils.Database, since: str | dt.date | dt.datetime | None = None, limit: int = 50,
               engine: Any = None, *, suggest: Suggest | None = None, normalize: Callable[[str], str] | None = None,
               threshold: float = CLUSTER_SIMILARITY, max_rows: int = MAX_UNANSWERED_ROWS) -> list[dict[str, Any]]:
    """Fallbacks, clarifications and 👎 answers grouped into clusters of similar questions, largest first.

    Pass the engine (its normaliser and its suggestion of an intent) or `suggest`/`normalize` callables."""
    if engine is not None:
        normalize = normalize or engine.normalizer
        suggest = suggest or engine_suggest(engine)
    normalize = normalize or Normalizer()
    groups: dict[str, list[dict]] = {}
    for row in problem_rows(db, since_iso(since), max_rows):
        # Markup alone normalises to nothing but was still asked ("><img src=x ...>); punctuation alone was not.
        key = normalize(row["text"]) or (" ".join(row["text"].split()).casefold() if _WORDS.search(row["text"]) else "")
        if key:
            groups.setdefault(key, []).append(row)
    # Most frequent first, then newest; the pairwise comparison is capped to keep the page fast.
    keys = sorted(groups, key=lambda k: groups[k][0]["ts"], reverse=True)
    keys = sorted(keys, key=lambda k: len(groups[k]), reverse=True)[:MAX_CLUSTER_KEYS]
    clusters = [_cluster([groups[keys[i]] for i in members]) for members in _greedy(keys, threshold)]
    clusters.sort(key=lambda c: c["last_ts"], reverse=True)
    clusters.sort(key=lambda c: c["count"], reverse=True)
    clusters = clusters[:limit]
    for cluster in clusters:
        ranked = list(suggest(cluster["text"]))[:3] if suggest else []
        cluster["candidates"] = [{"intent": i, "score": round(float(s), 2)} for i, s in ranked]
        cluster["suggestion"] = cluster["candidates"][0] if cluster["candidates"] else None
    return clusters


def _greedy(keys: list[str], threshold: float) -> list[list[int]]:
    """Greedy clustering: the most frequent unassigned question takes every unassigned one similar to it."""
    if not keys:
        return []
    matrix = process.cdist(keys, keys, scorer=fuzz.ratio, score_cutoff=threshold, dtype=np.uint8, workers=-1)
    taken = np.zeros(len(keys), dtype=bool)
    out = []
    for i in range(len(keys)):
        if taken[i]:
            continue
        members = np.nonzero((matrix[i] >= threshold) & ~taken)[0].tolist()
        if i not in members:
            members.insert(0, i)
        taken[members] = True
        out.append(members)
    return out


def _cluster(groups: list[list[dict]]) -> dict[str, Any]:
    rows = [row for group in groups for row in group]
    head = groups[0][0]                     # newest enquiry of the most frequent wording
    reasons = {"fallback": 0, "clarify": 0, "disliked": 0}
    for row in rows:
        if row["decision"] in reasons:
            reasons[row["decision"]] += 1
        reasons["disliked"] += 1 if row["disliked"] else 0
    return {"text": head["text"], "enquiry_id": head["id"], "lang": head["lang"], "count": len(rows),
            "questions": [{"text": g[0]["text"], "enquiry_id": g[0]["id"], "count": len(g)} for g in groups],
            "enquiry_ids": [row["id"] for row in rows], "reasons": reasons,
            "last_ts": max(row["ts"] for row in rows)}


# ---- export -----------------------------------------------------------------------------------------
def export_rows(db: sqlite_utils.Database, since: str | dt.date | dt.datetime | None = None) -> Iterator[dict]:
    """Every enquiry since a date, oldest first, with its latest 👍/👎 (1/-1/None) and comment."""
    sql = ("SELECT e.id, e.ts, e.channel, e.user_key, e.chat_type, e.lang, e.audience, e.via, e.parent_id, "  # noqa: S608 - constant SQL
           "e.text, e.normalized, e.decision, e.intent, e.score, e.candidates, e.latency_ms, e.intents_version, "
           "f.value AS feedback, f.comment AS feedback_comment FROM enquiries e "
           f"LEFT JOIN feedback f ON f.id = {_LATEST_FEEDBACK} WHERE e.ts >= ? ORDER BY e.ts, e.id")
    for row in db.query(sql, [since_iso(since) or ""]):
        row["candidates"] = json.loads(row["candidates"]) if row["candidates"] else []
        yield row


def _csv_cell(value: Any) -> Any:
    # A cell starting with = + - @ is run as a formula by spreadsheets (CSV injection): quote it as text.
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False)
    return value


def csv_chunks(db: sqlite_utils.Database, since: str | dt.date | dt.datetime | None = None,
               rows_per_chunk: int = 2000, bom: bool = False) -> Iterator[str]:
    """The CSV export as text chunks (header first), for streaming."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if bom:
        buffer.write("\ufeff")
    writer.writerow(EXPORT_COLUMNS)
    for count, row in enumerate(export_rows(db, since), start=1):
        writer.writerow([_csv_cell(row[c]) for c in EXPORT_COLUMNS])
        if count % rows_per_chunk == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def write_csv(db: sqlite_utils.Database, out: TextIO, since: str | dt.date | dt.datetime | None = None) -> int:
    """Write the CSV export to a text stream; return the number of enquiries."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    for row in export_rows(db, since):
        writer.writerow([_csv_cell(row[c]) for c in EXPORT_COLUMNS])
        count += 1
    return count


def write_jsonl(db: sqlite_utils.Database, out: TextIO, since: str | dt.date | dt.datetime | None = None) -> int:
    """Write one JSON object per enquiry to a text stream; return the number of enquiries."""
    count = 0
    for row in export_rows(db, since):
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        count += 1
    return count


def export_csv(db: sqlite_utils.Database, since: str | dt.date | dt.datetime | None = None, bom: bool = False) -> str:
    """The whole CSV export as one text (for a chat attachment); `bom` helps Excel read UTF-8."""
    return "".join(csv_chunks(db, since, bom=bom))


# ---- the dashboard list -----------------------------------------------------------------------------
def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search_enquiries(db: sqlite_utils.Database, filters: Mapping[str, Any] | None = None, page: int = 1,
                     per_page: int = 50, normalize: Callable[[str], str] | None = None) -> dict[str, Any]:
    """One page of enquiries, newest first, filtered by date, channel, decision, intent, audience and text."""
    filters = {k: v for k, v in (filters or {}).items() if v not in (None, "")}
    unknown = set(filters) - set(FILTERS)
    if unknown:
        raise ValueError(f"unknown filter(s): {', '.join(sorted(unknown))}")
    per_page = min(max(int(per_page), 1), 500)
    page = max(int(page), 1)
    where, params = ["1 = 1"], []
    if "since" in filters:
        where.append("e.ts >= ?")
        params.append(since_iso(filters["since"]))
    if "until" in filters:              # inclusive: the whole `until` day
        until = since_iso(filters["until"]) or ""
        where.append("e.ts < ?")
        params.append(_next_day(until) if len(until) == 10 else until)
    for name in ("channel", "decision", "intent", "audience"):
        if name in filters:
            where.append(f"e.{name} = ?")
            params.append(str(filters[name]))
    if "q" in filters:
        query = str(filters["q"]).strip()
        norm = (normalize or Normalizer())(query)
        where.append("(e.text LIKE ? ESCAPE '\\' OR e.normalized LIKE ? ESCAPE '\\')")
        params += [_like(query), _like(norm or query)]
    clause = " AND ".join(where)
    # S608: the clause joins constant fragments (column names from a fixed tuple); values are bound parameters.
    total = db.execute(f"SELECT count(*) FROM enquiries e WHERE {clause}", params).fetchone()[0]  # noqa: S608
    rows = _rows(db, "SELECT e.id, e.ts, e.channel, e.user_key, e.chat_type, e.lang, e.audience, e.via, e.text, "  # noqa: S608
                 "e.decision, e.intent, e.score, e.latency_ms, f.value AS feedback, f.comment AS feedback_comment "
                 f"FROM enquiries e LEFT JOIN feedback f ON f.id = {_LATEST_FEEDBACK} WHERE {clause} "
                 "ORDER BY e.ts DESC, e.id DESC LIMIT ? OFFSET ?", [*params, per_page, (page - 1) * per_page])
    return {"rows": rows, "total": total, "page": page, "per_page": per_page,
            "pages": max(1, math.ceil(total / per_page)), "filters": filters}


def get_enquiry(db: sqlite_utils.Database, enquiry_id: str) -> dict[str, Any] | None:
    """One enquiry row by id, or None."""
    rows = _rows(db, "SELECT * FROM enquiries WHERE id = ?", [enquiry_id])
    return rows[0] if rows else None


# ---- retention --------------------------------------------------------------------------------------
def purge(conn: sqlite3.Connection | sqlite_utils.Database, older_than_days: int,
          now: dt.datetime | None = None, chunk: int = 5000) -> dict[str, Any]:
    """Delete enquiries older than N days with their feedback, handoffs and staff replies, in short transactions.

    Also removes feedback, handoffs, replies, promotions and user preferences last touched before the cutoff."""
    if older_than_days < 1:
        raise ValueError("the retention period must be at least 1 day")
    conn = getattr(conn, "conn", conn)
    cutoff = ((now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=older_than_days)).isoformat(timespec="microseconds")
    counts = dict.fromkeys(("enquiries", "feedback", "handoffs", "staff_replies", "promotions", "user_prefs",
                            "optins"), 0)
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS purge_ids (id TEXT PRIMARY KEY)")
    linked = {
        "staff_replies": "DELETE FROM staff_replies WHERE enquiry_id IN (SELECT id FROM temp.purge_ids) OR handoff_id "
                         "IN (SELECT id FROM handoffs WHERE enquiry_id IN (SELECT id FROM temp.purge_ids))",
        "handoffs": "DELETE FROM handoffs WHERE enquiry_id IN (SELECT id FROM temp.purge_ids)",
        "feedback": "DELETE FROM feedback WHERE enquiry_id IN (SELECT id FROM temp.purge_ids)",
        "enquiries": "DELETE FROM enquiries WHERE id IN (SELECT id FROM temp.purge_ids)",
    }
    while True:
        with _transaction(conn):
            conn.execute("DELETE FROM temp.purge_ids")
            conn.execute("INSERT INTO temp.purge_ids SELECT id FROM enquiries WHERE ts < ? ORDER BY ts LIMIT ?",
                         [cutoff, chunk])
            if not conn.execute("SELECT count(*) FROM temp.purge_ids").fetchone()[0]:
                break
            for table, sql in linked.items():
                counts[table] += conn.execute(sql).rowcount
    with _transaction(conn):
        conn.execute("DELETE FROM temp.purge_ids")
        for table, column in (("staff_replies", "ts"), ("feedback", "ts"), ("promotions", "ts"),
                              ("user_prefs", "updated")):
            # S608: table and column names come from the constant tuple above.
            counts[table] += conn.execute(f"DELETE FROM {table} WHERE {column} < ?", [cutoff]).rowcount  # noqa: S608
        counts["optins"] += conn.execute("DELETE FROM optins WHERE ts < ?", [cutoff]).rowcount
        counts["handoffs"] += conn.execute("DELETE FROM handoffs WHERE ts < ? AND id NOT IN "
                                           "(SELECT handoff_id FROM staff_replies)", [cutoff]).rowcount
        # A handoff kept for its replies keeps no reply address past the retention period.
        counts["reply_addresses"] = conn.execute("UPDATE handoffs SET reply_to = NULL WHERE ts < ? "
                                                 "AND reply_to IS NOT NULL", [cutoff]).rowcount
    return {"cutoff": cutoff, **counts}


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error) on an autocommit connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        if self.conn.in_transaction:
            self.conn.execute("COMMIT")
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        self.conn.execute("ROLLBACK" if kind else "COMMIT")
