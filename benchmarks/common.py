"""What the benchmark scripts share: the realistic questions and how to start `vocbot`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS_FILE = ROOT / "tests" / "data" / "dev_questions.jsonl"


def questions() -> list[str]:
    """The labelled development questions: the way real users phrase things, in zh and en."""
    with QUESTIONS_FILE.open(encoding="utf-8") as handle:
        return [json.loads(line)["q"] for line in handle if line.strip()]


def vocbot_command() -> list[str]:
    """The `vocbot` console script of this interpreter's environment, else `python -m bot`."""
    script = Path(sys.executable).with_name("vocbot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot"]
