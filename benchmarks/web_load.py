"""Load test of `POST /api/chat`: 50 concurrent aiohttp clients against `vocbot serve --port 0`.

Usage: .venv/bin/python benchmarks/web_load.py [--clients 50] [--rate 300] [--duration 10] [--short]
                                               [--url URL] [--check] [--json]

Starts `vocbot serve --port 0` as a subprocess with a temporary database (VOCBOT_DB) and a per-address
limit high enough for one load generator (VOCBOT_ADDRESS_RATE_PER_MINUTE), then runs two phases with
realistic questions (tests/data/dev_questions.jsonl); each simulated user asks a few questions under one
session id, then a new user takes over, so per-session limits are not hit:

1. held rate: the clients together send --rate requests a second on a fixed schedule (open loop). Latency
   counts from the moment a request was due, so a slow server cannot hide its queue (no coordinated
   omission). This is the target: >= 300 req/s held with p99 < 100 ms, no failures.
2. saturation: every client sends its next question as soon as the last is answered (closed loop); this
   gives the most the server answers per second, with the queueing latency that comes with it.

Prints requests per second, median / p90 / p99 / max latency and failures per phase, and checks that every
answered request has its row in the enquiry log. --check exits 1 when the held-rate target is missed.
--short runs each phase for 3 seconds (for CI: a smoke run, not a measurement).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from common import ROOT, questions, vocbot_command

QUESTIONS_PER_USER = 5
TARGET_RPS, TARGET_P99_MS = 300.0, 100.0
WARM_UP = 20




def start_server(db_dir: Path, web_layer_only: bool = False) -> tuple[subprocess.Popen, str]:
    """Start `vocbot serve --port 0` (or its memoised-engine twin) and return it with the URL it prints."""
    env = {**os.environ, "VOCBOT_DB": str(db_dir / "bench.db"), "VOCBOT_HASH_KEY": "benchmark",
           "VOCBOT_ADDRESS_RATE_PER_MINUTE": "100000000", "VOCBOT_ADDRESS_BYTES_PER_MINUTE": "0",
           # One load generator is one address: new users (no session yet) all count as its one session.
           "VOCBOT_RATE_PER_MINUTE": "100000000", "PYTHONUNBUFFERED": "1"}
    env.pop("TELEGRAM_BOT_TOKEN", None)
    command = ([sys.executable, str(Path(__file__).resolve()), "--serve-memoized"] if web_layer_only
               else [*vocbot_command(), "serve", "--port", "0"])
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            cwd=ROOT)
    line = proc.stdout.readline() if proc.stdout else ""
    match = re.search(r"(http://\S+/)", line)
    if not match:
        proc.kill()
        raise SystemExit(f"vocbot serve did not print its URL: {line!r}")
    return proc, match.group(1)


def serve_memoized() -> None:
    """Child mode for --web-layer-only: `vocbot serve --port 0` whose engine answers from replies computed
    before serving, so the figures show what HTTP, JSON, limits and the enquiry log cost without matching."""
    sys.path.insert(0, str(ROOT))
    from bot import serve
    from bot.config import Settings
    from bot.service import Service

    create = Service.create

    def create_memoized(settings: Settings) -> Service:
        service = create(settings)
        real = service.engine.ask
        memo = {(q, None): real(q) for q in questions()}
        service.engine.ask = lambda text, lang=None: memo.get((text, lang)) or real(text, lang)
        return service

    Service.create = create_memoized   # benchmark only: every other line of the server is the real one
    serve.main(Settings.from_env(), "127.0.0.1", 0)


def cpu_seconds(pid: int | None) -> float | None:
    """User plus system CPU time a process has used (Linux /proc), or None when unknown."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop_server(proc: subprocess.Popen) -> None:
    """SIGTERM, then wait for the log to drain."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def client(session: aiohttp.ClientSession, url: str, pool: list[str], deadline: float, number: int,
                 interval: float | None, offset: float, latencies: list[float], failures: dict[int, int]) -> None:
    """One simulated browser tab: one request at a time, on a schedule (interval) or back to back (None)."""
    rng = random.Random(number)
    asked = 0
    due = time.perf_counter() + offset
    while True:
        if interval is not None:
            now = time.perf_counter()
            if due > now:
                await asyncio.sleep(due - now)
        started = due if interval is not None else time.perf_counter()
        if started >= deadline:
            return
        body = {"text": rng.choice(pool), "session": f"bench-{number}-{asked // QUESTIONS_PER_USER}"}
        try:
            async with session.post(url, json=body) as response:
                await response.read()
                status = response.status
        except aiohttp.ClientError:
            status = 0
        if status == 200:
            latencies.append(time.perf_counter() - started)
        else:
            failures[str(status)] = failures.get(str(status), 0) + 1
        asked += 1
        if interval is not None:
            due += interval


async def phase(session: aiohttp.ClientSession, url: str, pool: list[str], clients: int, duration: float,
                rate: float | None, server_pid: int | None) -> dict:
    """Run the clients for `duration` seconds at a total `rate` (None: as fast as answered) and summarise."""
    latencies: list[float] = []
    failures: dict[str, int] = {}
    interval = clients / rate if rate else None
    cpu_before = cpu_seconds(server_pid)
    started = time.perf_counter()
    await asyncio.gather(*(client(session, url, pool, started + duration, n, interval,
                                  (interval or 0) * n / clients, latencies, failures) for n in range(clients)))
    elapsed = time.perf_counter() - started
    cpu_after = cpu_seconds(server_pid)
    server_cpu_ms = (round((cpu_after - cpu_before) * 1000 / len(latencies), 2)
                     if cpu_before is not None and cpu_after is not None and latencies else None)
    ms = sorted(x * 1000 for x in latencies)

    def pct(p: float) -> float | None:
        return round(ms[min(len(ms) - 1, round(p / 100 * (len(ms) - 1)))], 2) if ms else None

    return {"mode": f"held {rate:g} req/s" if rate else "saturation", "clients": clients,
            "seconds": round(elapsed, 2), "requests": len(ms), "requests_per_second": round(len(ms) / elapsed, 1),
            "median_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99), "max_ms": pct(100), "failures": failures,
            "server_cpu_ms_per_request": server_cpu_ms}


async def load(base: str, clients: int, rate: float, duration: float, server_pid: int | None) -> list[dict]:
    """Warm up, then the held-rate phase and the saturation phase."""
    pool = questions()
    url = base + "api/chat"
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        for text in pool[:WARM_UP]:                      # warm up: connections, caches
            async with session.post(url, json={"text": text, "session": "warm-up"}) as response:
                await response.read()
        held = await phase(session, url, pool, clients, duration, rate, server_pid)
        saturated = await phase(session, url, pool, clients, duration, None, server_pid)
    return [held, saturated]


def met(result: dict) -> bool:
    """The target: the held rate reached, p99 under the limit, no failures."""
    return (result["requests_per_second"] >= TARGET_RPS * 0.97 and result["p99_ms"] is not None
            and result["p99_ms"] < TARGET_P99_MS and not result["failures"])


def main() -> int:
    """Parse arguments, run the load, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rate", type=float, default=TARGET_RPS, help="requests a second in the held phase")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase (default 10)")
    parser.add_argument("--short", action="store_true", help="3 seconds per phase: a smoke run for CI")
    parser.add_argument("--url", help="load an already running server instead of starting one")
    parser.add_argument("--server-pid", type=int, help="with --url: the server's process id, to report its CPU time")
    parser.add_argument("--check", action="store_true", help="exit 1 when the held-rate target is missed")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--web-layer-only", action="store_true",
                        help="answer from replies computed before the load, to measure everything but matching")
    parser.add_argument("--serve-memoized", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_memoized:
        serve_memoized()
        return 0
    duration = 3.0 if args.short else args.duration

    with tempfile.TemporaryDirectory(prefix="vocbot-bench-") as tmp:
        proc, base = ((None, args.url.rstrip("/") + "/") if args.url
                      else start_server(Path(tmp), args.web_layer_only))
        try:
            phases = asyncio.run(load(base, args.clients, args.rate, duration,
                                      proc.pid if proc is not None else args.server_pid))
        finally:
            if proc is not None:
                stop_server(proc)
        logged = None
        if proc is not None:
            conn = sqlite3.connect(Path(tmp) / "bench.db")
            try:
                logged = conn.execute("SELECT COUNT(*) FROM enquiries WHERE channel = 'web'").fetchone()[0]
            finally:
                conn.close()
    answered = sum(p["requests"] for p in phases) + WARM_UP
    summary = {"phases": phases, "target": f">= {TARGET_RPS:g} req/s held, p99 < {TARGET_P99_MS:g} ms",
               "target_met": met(phases[0]), "logged": logged,
               "all_logged": None if logged is None else logged == answered}
    if args.json:
        print(json.dumps(summary))
    else:
        for p in phases:
            print(f"{p['mode']:>18}: {p['requests']} answers from {p['clients']} clients in {p['seconds']} s = "
                  f"{p['requests_per_second']} req/s; latency median {p['median_ms']} ms, p90 {p['p90_ms']} ms, "
                  f"p99 {p['p99_ms']} ms, max {p['max_ms']} ms; failures {p['failures'] or 'none'}"
                  + (f"; server CPU {p['server_cpu_ms_per_request']} ms/request"
                     if p["server_cpu_ms_per_request"] is not None else ""))
        if logged is not None:
            print(f"rows in the enquiry log: {logged} of {answered} answered (all logged: {summary['all_logged']})")
        print(f"target ({summary['target']}, no failures): {'met' if summary['target_met'] else 'MISSED'}")
    if summary["all_logged"] is False:
        return 1
    return 1 if args.check and not summary["target_met"] else 0


if __name__ == "__main__":
    sys.exit(main())
