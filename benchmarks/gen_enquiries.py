"""Fill an enquiry database with N synthetic enquiries (and feedback), fast, for the staff benchmarks.

Usage: .venv/bin/python benchmarks/gen_enquiries.py N [DB] [--days 365] [--seed 1]
DB defaults to benchmarks/out/enquiries-N.db (git-ignored); an existing file is replaced.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.log.migrate import connect  # noqa: E402

CHANNELS = (("telegram", 0.55), ("web", 0.40), ("terminal", 0.05))
DECISIONS = (("answer", 0.78), ("clarify", 0.10), ("fallback", 0.12))
AUDIENCES = ("student", "enterprise", "teacher", None)
OFF_TOPIC = ["今天天气怎么样", "北碚哪里有好吃的火锅", "how do I renew my passport", "幼儿园怎么报名",
             "公交卡在哪里办", "what's the bus to Chongqing north station", "考驾照要多久", "医保怎么报销",
             "房租补贴怎么申请", "可以帮我写作业吗"]
FILLER = ["", "", "请问", "你好，", "想问下", "麻烦问一下", "please, ", "hi "]
# The summary tables as migration 002 fills them from existing rows.
SUMMARIES = ("DELETE FROM enquiry_days", "DELETE FROM intent_days",
             "INSERT INTO enquiry_days (day, channel, decision, via, n) SELECT substr(ts, 1, 10), channel, decision, "
             "via, count(*) FROM enquiries GROUP BY 1, 2, 3, 4",
             "INSERT INTO intent_days (day, intent, n) SELECT substr(ts, 1, 10), intent, count(*) FROM enquiries "
             "WHERE decision = 'answer' AND intent IS NOT NULL GROUP BY 1, 2")
COLUMNS = ("id", "ts", "channel", "user_key", "chat_type", "lang", "audience", "text", "normalized", "decision",
           "intent", "score", "candidates", "latency_ms", "intents_version", "via", "parent_id")


def _pick(rng: random.Random, table: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([k for k, _ in table], weights=[w for _, w in table])[0]


def questions() -> list[dict]:
    """Labelled development questions to draw realistic texts from."""
    path = ROOT / "tests" / "data" / "dev_questions.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def rows(n: int, days: int, seed: int, intent_ids: list[str]) -> Iterator[tuple]:
    """N enquiry rows in time order over the last `days` days."""
    rng = random.Random(seed)
    pool = questions()
    end = dt.datetime.now(dt.UTC).replace(microsecond=0)
    start = end - dt.timedelta(days=days)
    span = (end - start).total_seconds()
    users = [f"{rng.getrandbits(64):016x}" for _ in range(max(10, n // 20))]
    for i in range(n):
        ts = (start + dt.timedelta(seconds=span * i / n)).isoformat(timespec="microseconds")
        decision = _pick(rng, DECISIONS)
        channel = _pick(rng, CHANNELS)
        if decision == "fallback":
            text, intent, score = rng.choice(OFF_TOPIC), None, rng.uniform(10, 49)
        else:
            item = rng.choice(pool)
            text = rng.choice(FILLER) + item["q"]
            intent = item["intent"] if item["intent"] in intent_ids else rng.choice(intent_ids)
            score = rng.uniform(70, 100) if decision == "answer" else rng.uniform(50, 70)
        lang = "en" if text.isascii() else "zh"
        candidates = json.dumps([{"intent": intent or rng.choice(intent_ids), "score": round(score, 2)}])
        via = "button" if decision == "answer" and rng.random() < 0.15 else "text"
        yield (f"bench{i:011d}", ts, channel, rng.choice(users), "private", lang, rng.choice(AUDIENCES), text,
               text.lower(), decision, intent, round(score, 2), candidates, round(rng.lognormvariate(0.3, 0.5), 3),
               "bench", via, None)


def generate(path: Path, n: int, days: int = 365, seed: int = 1, feedback_rate: float = 0.05) -> float:
    """Create (or replace) the database at path with n enquiries; return the seconds it took."""
    started = time.perf_counter()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    conn = connect(path)
    # Bulk load: no journal, no syncs, a large page cache; the file is switched back to WAL at the end.
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -262144")
    # Indexes and summary triggers are set aside during the load and rebuilt once at the end (much faster).
    saved = conn.execute("SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'enquiries' "
                         "AND type IN ('index', 'trigger') AND sql IS NOT NULL").fetchall()
    for kind, name, _ in saved:
        conn.execute(f'DROP {kind.upper()} "{name}"')
    intent_ids = sorted({q["intent"] for q in questions() if q.get("intent")})
    rng = random.Random(seed + 1)
    # S608: column names from the constant COLUMNS; values are bound parameters.
    insert = f"INSERT INTO enquiries ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"  # noqa: S608 - constant columns
    chunk: list[tuple] = []
    feedback: list[tuple] = []

    def flush() -> None:
        conn.execute("BEGIN")
        conn.executemany(insert, chunk)
        conn.executemany("INSERT INTO feedback (enquiry_id, ts, value, comment, user_key) VALUES (?, ?, ?, ?, ?)",
                         feedback)
        conn.execute("COMMIT")
        chunk.clear()
        feedback.clear()

    for row in rows(n, days, seed, intent_ids):
        chunk.append(row)
        if rng.random() < feedback_rate:
            value = -1 if row[9] != "answer" or rng.random() < 0.2 else 1
            feedback.append((row[0], row[1], value, None, row[3]))
        if len(chunk) >= 50_000:
            flush()
    if chunk:
        flush()
    conn.execute("BEGIN")
    for _kind, _name, sql in sorted(saved, key=lambda item: item[0] != "index"):
        conn.execute(sql)
    for statement in SUMMARIES:
        conn.execute(statement)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    return time.perf_counter() - started


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int)
    parser.add_argument("db", type=Path, nargs="?")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    path = args.db or ROOT / "benchmarks" / "out" / f"enquiries-{args.n}.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    seconds = generate(path, args.n, args.days, args.seed)
    print(f"{args.n} enquiries written to {path} in {seconds:.1f}s ({args.n / seconds:,.0f}/s)")


if __name__ == "__main__":
    main()
