"""Route-finder use from the enquiry log: which profiles use it and which results they end on."""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

TOP_RESULTS = 10
# Route rows keep only ids as JSON in `text` (bot.log.records.route_record); json_valid guards older rows.
_ROUTES = "FROM enquiries WHERE decision = 'route' AND ts >= :since AND json_valid(text)"


def route_stats(db: sqlite_utils.Database, since: str | None = None) -> dict[str, Any]:
    """Results reached, by flow and profile (the first step's answer), by whole path, and the intents shown."""
    params = {"since": since or "", "top": TOP_RESULTS}
    profiles = list(db.query(
        "SELECT json_extract(text, '$.flow') AS flow, json_extract(text, '$.profile') AS profile, count(*) AS count "
        + _ROUTES + " GROUP BY 1, 2 ORDER BY count DESC, flow, profile", params))
    results = [{"flow": row["flow"], "answers": json.loads(row["answers"] or "{}"), "count": row["count"]}
               for row in db.query(
                   "SELECT json_extract(text, '$.flow') AS flow, json_extract(text, '$.answers') AS answers, "
                   "count(*) AS count " + _ROUTES + " GROUP BY 1, 2 ORDER BY count DESC, flow, answers LIMIT :top",
                   params)]
    intents = list(db.query(
        "SELECT j.value AS intent, count(*) AS count FROM enquiries e, json_each(e.text, '$.intents') j "
        "WHERE e.decision = 'route' AND e.ts >= :since AND json_valid(e.text) "
        "GROUP BY 1 ORDER BY count DESC, intent LIMIT :top", params))
    return {"total": sum(row["count"] for row in profiles), "profiles": profiles, "results": results,
            "intents": intents}
