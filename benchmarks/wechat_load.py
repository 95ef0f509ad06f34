"""Load test of `POST /wechat`: 200 concurrent WeChat users against `vocbot serve --port 0`.

Usage: .venv/bin/python benchmarks/wechat_load.py [--users 200] [--messages 5] [--safe] [--check] [--json]

Starts `vocbot serve --port 0` as a subprocess with WECHAT_TOKEN (and, with --safe, WECHAT_AES_KEY and
WECHAT_APP_ID) on a temporary database. Every simulated user is one openid sending realistic questions
(tests/data/dev_questions.jsonl) as WeChat pushes them: a signed URL, plain or AES-encrypted XML
(tests/fake_wechat.py, written with `cryptography` alone), a 5-second wait. Latency is the time to the
passive reply. Two phases:

1. burst (the goal): all users send one message at the same moment, --messages times (a pause between);
   p99 under 1 s (WeChat allows 5 s);
2. sustained: all users at once, each sending --messages questions one after another as soon as the last
   is answered (closed loop: the most the server answers per second, with its queueing latency).

Prints median / p90 / p99 / max latency, replies per second and failures per phase, and checks that every
message has exactly one row in the log. --check exits 1 when the burst goal is missed or anything failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, questions, vocbot_command

sys.path.insert(0, str(ROOT / "tests"))
from fake_wechat import AES_KEY, APP_ID, TOKEN, FakeWeChat

GOAL_P99_S = 1.0


def is_command(text: str) -> bool:
    """True for what the WeChat conversation treats as a command word or an option number, not a question."""
    from bot.channels.wechat import conversation as c

    word = c.keyword(text)
    return (word.isdigit() and len(word) <= 2) or any(word in words for words in (
        c.ORIGINAL, c.MENU, c.STAFF, c.HELP, c.MORE, c.TO_EN, c.TO_ZH))


def start_server(db_dir: Path, safe: bool) -> tuple[subprocess.Popen, str]:
    """`vocbot serve --port 0` with WeChat on; returns it and its /wechat URL."""
    env = {**os.environ, "VOCBOT_DB": str(db_dir / "bench.db"), "VOCBOT_HASH_KEY": "benchmark",
           "WECHAT_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"}
    for name in ("TELEGRAM_BOT_TOKEN", "WECHAT_AES_KEY", "WECHAT_APP_ID", "WECHAT_APP_SECRET"):
        env.pop(name, None)
    if safe:
        env.update(WECHAT_AES_KEY=AES_KEY, WECHAT_APP_ID=APP_ID)
    proc = subprocess.Popen([*vocbot_command(), "serve", "--port", "0"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    line = proc.stdout.readline() if proc.stdout else ""
    match = re.search(r"(http://\S+/)", line)
    if not match:
        proc.kill()
        raise SystemExit(f"vocbot serve did not start: {line!r}")
    return proc, match.group(1) + "wechat"


async def user(platform: FakeWeChat, openid: str, asked: list[str], latencies: list[float],
               failures: list[str]) -> None:
    """One user asking their questions one after another."""
    for question in asked:
        started = time.perf_counter()
        try:
            delivery = await platform.deliver(platform.text(openid, question))
        except AssertionError as exc:
            failures.append(f"bad reply: {exc}")
            continue
        if delivery.attempts[:1] != [200] or delivery.reply is None:
            failures.append(f"attempts {delivery.attempts}")
            continue
        latencies.append(time.perf_counter() - started)


async def run(url: str, users: int, messages: int, safe: bool) -> dict[str, dict[str, object]]:
    """Both phases; their latency figures."""
    # Command words ("?", "菜单", a number ...) are not questions and are not logged: leave them out.
    pool = [q for q in questions() if not is_command(q)]
    rng = random.Random(16)
    results = {}
    async with FakeWeChat(aes_key=AES_KEY if safe else None) as platform:
        platform.bot_url = url
        await platform.deliver(platform.text("warm-up", "三加二是啥子"))
        latencies: list[float] = []
        failures: list[str] = []
        started = time.perf_counter()
        for _ in range(messages):
            await asyncio.gather(*(user(platform, f"oBurst{n:04d}", rng.sample(pool, 1), latencies, failures)
                                   for n in range(users)))
            await asyncio.sleep(0.5)
        results["burst"] = figures(latencies, failures, time.perf_counter() - started - 0.5 * messages)
        latencies, failures = [], []
        started = time.perf_counter()
        await asyncio.gather(*(user(platform, f"oLoop{n:04d}", rng.sample(pool, messages), latencies, failures)
                               for n in range(users)))
        results["sustained"] = figures(latencies, failures, time.perf_counter() - started)
    return results


def figures(latencies: list[float], failures: list[str], elapsed: float) -> dict[str, object]:
    """Median, p90, p99 and max latency, replies per second, failures."""
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")

    return {"answered": len(latencies), "failures": len(failures), "first_failures": failures[:3],
            "seconds": round(elapsed, 2),
            "replies_per_s": round(len(latencies) / elapsed, 1),
            "median_ms": round(statistics.median(ordered) * 1000, 1) if ordered else None,
            "p90_ms": round(pct(0.90) * 1000, 1), "p99_ms": round(pct(0.99) * 1000, 1),
            "max_ms": round(ordered[-1] * 1000, 1) if ordered else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--messages", type=int, default=5)
    parser.add_argument("--safe", action="store_true", help="safe mode (AES) instead of plain mode")
    parser.add_argument("--check", action="store_true", help="exit 1 when p99 >= 1 s or anything failed")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(Path(tmp), args.safe)
        try:
            phases = asyncio.run(run(url, args.users, args.messages, args.safe))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        conn = sqlite3.connect(Path(tmp) / "bench.db")
        log_rows = conn.execute("SELECT count(*) FROM enquiries WHERE channel = 'wechat'").fetchone()[0] - 1
        conn.close()
    sent = 2 * args.users * args.messages
    result = {"mode": "safe" if args.safe else "plain", "users": args.users, "messages": sent,
              "log_rows": log_rows, **phases}
    burst = phases["burst"]
    ok = (all(p["failures"] == 0 for p in phases.values()) and log_rows == sent
          and (burst["p99_ms"] or 1e9) < GOAL_P99_S * 1000)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 1 if args.check and not ok else 0
    print(f"{result['mode']} mode, {args.users} concurrent users, {sent} messages, {log_rows} log rows")
    for name, p in phases.items():
        print(f"  {name:9}: {p['answered']} answered, {p['failures']} failed, {p['replies_per_s']} replies/s; "
              f"passive reply median {p['median_ms']} ms, p90 {p['p90_ms']} ms, p99 {p['p99_ms']} ms, "
              f"max {p['max_ms']} ms")
    print(f"  goal: burst p99 < {GOAL_P99_S * 1000:.0f} ms: {'met' if ok else 'MISSED'}")
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
