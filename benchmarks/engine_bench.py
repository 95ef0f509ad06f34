"""Engine benchmark: per-query latency at 1x/10x/100x examples against a difflib baseline, start-up, memory.

Usage: .venv/bin/python benchmarks/engine_bench.py [--short]
Prints medians and p99 (2 noisy cores: read the ratios, not single runs).
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.core.engine import Engine  # noqa: E402
from bot.core.intents import IntentSet  # noqa: E402
from bot.core.training import fit  # noqa: E402

FILLER = "的了呢吧啊呀哦嘛请问一下我想知道那个这个现在"


def scaled(intent_set: IntentSet, factor: int, rng: random.Random) -> IntentSet:
    """A copy of the intents with each example repeated `factor` times, perturbed so copies differ."""
    intents = {}
    for iid, intent in intent_set.intents.items():
        examples = {}
        for lang, items in intent.examples.items():
            out = list(items)
            for _ in range(factor - 1):
                for text in items:
                    pos = rng.randrange(len(text) + 1)
                    out.append(text[:pos] + rng.choice(FILLER) + text[pos:])
            examples[lang] = tuple(out)
        intents[iid] = dataclasses.replace(intent, examples=examples)
    return dataclasses.replace(intent_set, intents=intents)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def time_queries(fn, questions: list[str], repeat: int) -> list[float]:
    """Milliseconds per call of fn(question)."""
    out = []
    for _ in range(repeat):
        for q in questions:
            t = time.perf_counter()
            fn(q)
            out.append((time.perf_counter() - t) * 1000)
    return out


def startup(runs: int, cache: str = "") -> tuple[float, float]:
    """Median wall time and peak RSS (MiB) of a fresh process that loads and answers one question.

    With `cache` set to an empty folder each run, the model is fitted first (a cold start)."""
    code = ("import sys,time,resource;t=time.perf_counter();from bot.core.engine import Engine, MODEL_CACHE;"
            "from bot.config import ROOT;from pathlib import Path;"
            f"c=Path({cache!r}) if {cache!r} else MODEL_CACHE;"
            "e=Engine.load(ROOT/'intents',ROOT/'content',c);r=e.ask('3加2是啥子意思');"
            f"assert {cache!r} or 'sklearn' not in sys.modules, 'a warm start imported scikit-learn';"
            "print(time.perf_counter()-t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024, r.intent)")
    times, mems = [], []
    for _ in range(runs):
        if cache:
            shutil.rmtree(cache, ignore_errors=True)
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - t)
        mems.append(float(out.stdout.split()[1]))
    return statistics.median(times), max(mems)


def main() -> None:
    """Run and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--short", action="store_true", help="fewer repetitions (CI)")
    args = parser.parse_args()
    rng = random.Random(7)
    base = Engine.load(ROOT / "intents", ROOT / "content")
    dev = ROOT / "tests" / "data" / "dev_questions.jsonl"
    rows = [json.loads(line) for line in dev.read_text("utf-8").splitlines()]
    questions = [r["q"][:200] for r in rows][: 120 if args.short else 400]
    results = {}
    factors = (1, 10) if args.short else (1, 10, 100)
    for factor in factors:
        # Serving cost at 100x examples: the same model (its cost is per feature, not per example) with the
        # exact-match index of all the scaled examples.
        engine = base if factor == 1 else Engine(scaled(base.intent_set, factor, rng), base.content, base.menu,
                                                 model=base.model)
        repeat = 1 if factor == 100 or args.short else 3
        ours = time_queries(engine.ask, questions, repeat)
        texts = list(engine._exact)
        baseline = time_queries(lambda q, t=texts, n=engine.normalizer: difflib.get_close_matches(n(q), t, n=3,
                                                                                                cutoff=0.4),
                                questions[: 60 if factor == 100 else 200], 1)
        results[factor] = (engine.example_count, ours, baseline)
        ours_median, base_median = statistics.median(ours), statistics.median(baseline)
        print(f"{factor:>4}x  examples={engine.example_count:>7}  vocbot median {ours_median:7.3f} ms  "
              f"p99 {percentile(ours, 99):7.3f} ms   difflib median {base_median:8.3f} ms  "
              f"p99 {percentile(baseline, 99):8.3f} ms   difflib/vocbot (median) {base_median / ours_median:6.1f}x",
              flush=True)
    median_start, peak = startup(3 if args.short else 7)
    print(f"start-up to first answer, warm model cache (fresh process, median): {median_start:.3f} s; "
          f"peak RSS {peak:.0f} MiB")
    with tempfile.TemporaryDirectory() as tmp:
        cold, cold_peak = startup(1 if args.short else 3, cache=str(Path(tmp) / "models"))
    print(f"start-up to first answer, cold cache (fits the model): {cold:.3f} s; peak RSS {cold_peak:.0f} MiB")
    refits = []
    for _ in range(1 if args.short else 3):
        t = time.perf_counter()
        fit(base.intent_set, base.normalizer)
        refits.append(time.perf_counter() - t)
    print(f"retrain (fit after a promote, in process, median): {statistics.median(refits):.2f} s")
    goals = [("p99 at shipped size <= 2 ms", percentile(results[1][1], 99) <= 2),
             ("warm start-up <= 1 s", median_start <= 1.0),
             ("retrain <= 10 s", statistics.median(refits) <= 10)]
    if 100 in results:
        goals.append(("p99 at 100x <= 5 ms", percentile(results[100][1], 99) <= 5))
    for name, ok in goals:
        print(f"goal {name}: {'met' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
