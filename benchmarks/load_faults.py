"""Load and faults: Telegram users (through the fake Bot API server) and web clients against `vocbot serve`.

Usage: .venv/bin/python benchmarks/load_faults.py [--users 200] [--telegram 5000] [--clients 50] [--web 5000]
                                                  [--short] [--kill] [--json]

Starts `vocbot serve --port 0` as a subprocess on 127.0.0.1 with a temporary database, Telegram pointed at
the fake Bot API server of tests/fake_bot_api.py (run in this process), and the per-user and per-address
limits lifted. N Telegram users and M web clients each ask their share of questions one after another,
all at once. Reports p50/p99 reply latency per channel and checks:

- every question answered, exactly one enquiry row per question, no 4xx answered by the fake server;
- with --kill: the server is SIGKILLed half-way and restarted on the same database. Then every delivered
  answer has its row, `PRAGMA integrity_check` is ok, Telegram messages that were unanswered at the kill
  are answered after the restart, and no message is answered twice (the counts of each are reported).
  One exception is counted apart: an answer Telegram accepted in the last IN_FLIGHT seconds before the
  kill may come again, because the process died before it could record it (no Bot API call tells a bot
  what it already sent, so at-least-once delivery cannot tell that update from an unanswered one).
  A repeat of anything answered earlier fails the run.

--short: 20 users / 300 questions and 10 clients / 300 questions (a CI smoke run). Every wait is bounded.
Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp
from common import ROOT, questions, vocbot_command

sys.path.insert(0, str(ROOT / "tests"))
from fake_bot_api import TOKEN, FakeBotAPI

REPLY_TIMEOUT = 30.0          # seconds one question may wait for its answer (longer across a restart)
# An answer accepted this soon before the SIGKILL may not be recorded yet (from acceptance to the record
# committed took 1.6 ms median and 28 ms p99 under this load), so its update may be answered again.
IN_FLIGHT = 0.1
START_TIMEOUT = 60.0


async def start_server(db: Path, fake_url: str) -> tuple[subprocess.Popen, str]:
    """`vocbot serve --port 0`; returns the process and its base URL once it prints it."""
    env = {**os.environ, "VOCBOT_DB": str(db), "VOCBOT_HASH_KEY": "bench", "TELEGRAM_BOT_TOKEN": TOKEN,
           "TELEGRAM_API_URL": fake_url, "VOCBOT_RATE_PER_MINUTE": "1000000",
           "VOCBOT_ADDRESS_RATE_PER_MINUTE": "0", "VOCBOT_ADDRESS_BYTES_PER_MINUTE": "0", "PYTHONUNBUFFERED": "1"}
    for name in ("VOCBOT_WEBHOOK_URL", "VOCBOT_WEBHOOK_SECRET", "VOCBOT_STAFF_CHAT_ID"):
        env.pop(name, None)
    proc = subprocess.Popen([*vocbot_command(), "serve", "--port", "0"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    stdout = proc.stdout
    if stdout is None:
        raise SystemExit("vocbot serve: no stdout")
    line = await asyncio.wait_for(asyncio.to_thread(stdout.readline), START_TIMEOUT)
    match = re.search(r"open (http://127\.0\.0\.1:\d+/)", line)
    if not match:
        proc.kill()
        raise SystemExit(f"vocbot serve did not start: {line!r}")
    return proc, match.group(1)


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 1)


class Replies:
    """Watches the fake server's call log: the sendMessage calls into each chat, in order."""

    def __init__(self, fake: FakeBotAPI) -> None:
        self.fake, self.seen, self.by_chat = fake, 0, Counter()
        self.events: dict[int, asyncio.Event] = {}
        self.sent: dict[int, list[tuple[float, str]]] = {}    # chat -> (accepted at, text) of each reply

    def scan(self) -> None:
        calls = self.fake.calls
        for call in calls[self.seen:]:
            if call.method == "sendMessage" and call.ok:
                chat = int(call.chat())
                self.by_chat[chat] += 1
                self.sent.setdefault(chat, []).append((call.answered_at, str(call.params.get("text"))))
                event = self.events.get(chat)
                if event is not None:
                    event.set()
        self.seen = len(calls)

    async def watch(self, stop_event: asyncio.Event) -> None:
        while not stop_event.is_set():
            self.scan()
            await asyncio.sleep(0.005)

    async def wait(self, chat: int, count: int, timeout: float) -> bool:
        """Until `count` replies went into the chat; False on timeout."""
        event = self.events.setdefault(chat, asyncio.Event())
        deadline = time.monotonic() + timeout
        while self.by_chat[chat] < count:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), min(left, 0.5))
        return True


async def telegram_user(fake: FakeBotAPI, replies: Replies, number: int, share: int, pool: list[str],
                        latencies: list[float], sent: list[int]) -> int:
    """One user asks `share` questions, each after the last was answered; returns the unanswered count."""
    user = fake.user(10_000 + number, language_code=random.choice(("zh", "en")))
    rng = random.Random(number)
    missed = 0
    for index in range(share):
        start = time.perf_counter()
        fake.say(user, rng.choice(pool))
        sent[0] += 1
        if await replies.wait(user["id"], index + 1 - missed, REPLY_TIMEOUT):
            latencies.append((time.perf_counter() - start) * 1000)
        else:
            missed += 1
    return missed


async def web_client(base: list[str], number: int, share: int, pool: list[str], latencies: list[float],
                     answered: list[str], failures: Counter) -> None:
    """One web client asks `share` questions one after another; retries once across a restart."""
    rng = random.Random(-number)
    timeout = aiohttp.ClientTimeout(total=REPLY_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for index in range(share):
            body = {"text": rng.choice(pool), "session": f"bench-{number}-{index // 20}"}
            start = time.perf_counter()
            for attempt in range(2):
                try:
                    async with session.post(base[0] + "api/chat", json=body) as response:
                        data = await response.json()
                        if response.status == 200:
                            answered.append(data["enquiry_id"])
                            latencies.append((time.perf_counter() - start) * 1000)
                        else:
                            failures[str(response.status)] += 1
                        break
                except (aiohttp.ClientError, TimeoutError) as exc:
                    if attempt == 1:
                        failures[type(exc).__name__] += 1
                    else:
                        await asyncio.sleep(1.0)     # the server may be restarting (--kill)


def repeats(replies: Replies, chats: list[int], share: int, killed_at: float) -> tuple[int, int]:
    """Answers repeated: (in all but the exception, the answer accepted within IN_FLIGHT before the kill that
    came again as the chat's first answer after it)."""
    twice = in_flight = 0
    for chat in chats:
        extra = replies.by_chat[chat] - share
        if extra <= 0:
            continue
        sent = replies.sent.get(chat, [])
        before = [(t, text) for t, text in sent if t <= killed_at]
        after = [text for t, text in sent if t > killed_at]
        if killed_at and extra == 1 and before and after and killed_at - before[-1][0] <= IN_FLIGHT \
                and after[0] == before[-1][1]:
            in_flight += 1
        else:
            twice += extra
    return twice, in_flight


def db_rows(db: Path) -> dict[str, object]:
    conn = sqlite3.connect(db)
    try:
        return {
            "integrity": conn.execute("PRAGMA integrity_check").fetchone()[0],
            "channels": dict(conn.execute("SELECT channel, count(*) FROM enquiries GROUP BY channel").fetchall()),
            "ids": {r[0] for r in conn.execute("SELECT id FROM enquiries WHERE channel = 'web'")},
        }
    finally:
        conn.close()


async def run(args: argparse.Namespace) -> dict[str, object]:
    pool = questions()
    tg_share = max(1, args.telegram // max(args.users, 1)) if args.users else 0
    web_share = max(1, args.web // max(args.clients, 1)) if args.clients else 0
    with tempfile.TemporaryDirectory(prefix="vocbot-load-") as tmp:
        db = Path(tmp) / "enquiries.db"
        async with FakeBotAPI() as fake:
            proc, url = await start_server(db, fake.url)
            base = [url]
            replies, stop_event = Replies(fake), asyncio.Event()
            watcher = asyncio.create_task(replies.watch(stop_event))
            tg_lat: list[float] = []
            web_lat: list[float] = []
            web_ids: list[str] = []
            failures: Counter = Counter()
            sent = [0]
            killed_at = [0.0]
            restart: dict[str, object] = {}

            async def killer() -> None:
                total = args.users * tg_share
                async with asyncio.timeout(600):
                    while sent[0] < total // 2:
                        await asyncio.sleep(0.01)
                nonlocal proc
                restart["at_questions"] = sent[0]
                killed_at[0] = time.monotonic()
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)
                started = time.perf_counter()
                proc, base[0] = await start_server(db, fake.url)
                restart["restart_s"] = round(time.perf_counter() - started, 2)

            started = time.perf_counter()
            tasks = [telegram_user(fake, replies, n, tg_share, pool, tg_lat, sent) for n in range(args.users)]
            tasks += [web_client(base, n, web_share, pool, web_lat, web_ids, failures) for n in range(args.clients)]
            if args.kill:
                tasks.append(killer())
            results = await asyncio.gather(*tasks)
            elapsed = time.perf_counter() - started
            # Settle: a reply sent just before the kill may still have its row in flight; give it a moment.
            await asyncio.sleep(1.0)
            replies.scan()
            stop_event.set()
            await watcher
            stop(proc)
            client_errors = [f"{c.method} {c.status}" for c in fake.client_errors()]
            chats = [10_000 + n for n in range(args.users)]
            twice, in_flight = repeats(replies, chats, tg_share, killed_at[0])
            unanswered = sum(r for r in results[:args.users] if isinstance(r, int))
        stored = db_rows(db)
    tg_total, web_total = args.users * tg_share, args.clients * web_share
    channels: dict = stored["channels"]  # type: ignore[assignment]
    report = {
        "mode": "kill" if args.kill else "load",
        "seconds": round(elapsed, 1),
        "telegram": {"users": args.users, "questions": tg_total, "unanswered": unanswered,
                     "answered_twice": twice, "repeated_in_flight_at_kill": in_flight,
                     "rows": channels.get("telegram", 0),
                     "p50_ms": pct(tg_lat, 50), "p99_ms": pct(tg_lat, 99),
                     "mean_ms": round(statistics.fmean(tg_lat), 1) if tg_lat else None},
        "web": {"clients": args.clients, "questions": web_total, "answered": len(web_ids),
                "rows": channels.get("web", 0),
                "answered_without_row": len(set(web_ids) - stored["ids"]),  # type: ignore[operator]
                "failures": dict(failures), "p50_ms": pct(web_lat, 50), "p99_ms": pct(web_lat, 99)},
        "fake_server_4xx": client_errors[:10],
        "integrity_check": stored["integrity"],
        "restart": restart,
    }
    checks = {
        "integrity ok": stored["integrity"] == "ok",
        "no 4xx from the fake server": not client_errors,
        "every web answer has its row": report["web"]["answered_without_row"] == 0,  # type: ignore[index]
        "every telegram question answered": unanswered == 0,
        "nothing answered twice": twice == 0,
    }
    if not args.kill:
        checks["one row per telegram question"] = channels.get("telegram", 0) == tg_total
        checks["one row per web question"] = channels.get("web", 0) == web_total == len(web_ids)
    report["checks"] = checks
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--telegram", type=int, default=5000, help="questions from Telegram users in all")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--web", type=int, default=5000, help="questions from web clients in all")
    parser.add_argument("--short", action="store_true", help="20 users/300 and 10 clients/300: a smoke run")
    parser.add_argument("--kill", action="store_true", help="SIGKILL the server half-way and restart it")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.short:
        args.users, args.telegram, args.clients, args.web = 20, 300, 10, 300
    report = asyncio.run(run(args))
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        for key, value in report.items():
            print(f"{key}: {value}")
        repeated = report["telegram"]["repeated_in_flight_at_kill"]   # type: ignore[index]
        if repeated:
            print(f"note: {repeated} answer(s) accepted within {IN_FLIGHT * 1000:.0f} ms before the SIGKILL, "
                  "before the process could record them, were sent again after the restart (allowed; see the "
                  "docstring)")
    failed = [name for name, ok in report["checks"].items() if not ok]   # type: ignore[union-attr]
    if failed:
        print("FAILED: " + "; ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
