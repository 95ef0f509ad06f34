"""Pinyin: Chinese questions typed with homophone typos (单找) or in Latin letters (dan zhao) still match."""

from __future__ import annotations

import re
from pathlib import Path

_TABLE = Path(__file__).resolve().parent / "data" / "pinyin.tsv"

_SYLLABLE = (r"(?:zh|ch|sh|[bpmfdtnlgkhjqxrzcsyw])?"
             r"(?:iang|iong|uang|ueng|ang|eng|ing|ong|ian|iao|uai|uan|ai|ei|ui|ao|ou|iu|ie|ve|ue|er|an|en|in|un|vn"
             r"|ia|ua|uo|a|o|e|i|u|v)")
_WORD = re.compile(rf"(?:{_SYLLABLE})+")
_SPLIT = re.compile(_SYLLABLE)


def _load_table() -> dict[str, str]:
    table = {}
    for line in _TABLE.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            syllable, chars = line.split("\t")
            table.update(dict.fromkeys(chars, syllable))
    return table


_READING = _load_table()


def is_pinyin_word(word: str) -> bool:
    """Whether a Latin word can be read as a run of pinyin syllables."""
    return bool(_WORD.fullmatch(word))


def looks_like_pinyin(text: str, share: float = 0.8) -> bool:
    """Whether a Latin-letter text is mostly pinyin rather than English."""
    latin = [w for w in text.split() if w.isascii() and w.isalpha()]
    if not latin:
        return False
    return sum(is_pinyin_word(w) for w in latin) >= share * len(latin) and len("".join(latin)) >= 4


def syllables(text: str) -> list[str]:
    """Toneless pinyin syllables of a normalised text: Chinese converted, Latin pinyin split, rest dropped."""
    out: list[str] = []
    for chunk in text.split():
        if chunk.isascii():
            if chunk.isalpha() and is_pinyin_word(chunk):
                out.extend(_SPLIT.findall(chunk))
        else:
            out.extend(_READING[c] for c in chunk if c in _READING)
    return out
