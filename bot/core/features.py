"""The tokens the intent model reads: characters, words, pinyin and English sub-words of a normalised text.

One function, `tokens`, is used both to fit the model (as scikit-learn's `analyzer`) and to score a question at
run time, so training and serving can never disagree on a feature.
"""

from __future__ import annotations

import itertools
import re

import rjieba

from bot.core.pinyin import is_pinyin_word, looks_like_pinyin, syllables

_DIGIT_READING = dict(zip("0123456789+", ("ling", "yi", "er", "san", "si", "wu", "liu", "qi", "ba", "jiu", "jia"),
                          strict=True))
_RUNS = re.compile(r"[a-z]+|[0-9]+|\+|[^\x00-\x7f]+")
GROUPS = ("c", "w", "e", "p")   # character n-grams, words, English sub-words, pinyin


def _chinese_chars(chunk: str) -> list[str]:
    padded = f"<{chunk}>"
    out = list(chunk)
    out += [padded[i:i + 2] for i in range(len(padded) - 1)]
    out += [padded[i:i + 3] for i in range(len(padded) - 2)]
    return ["c:" + g for g in out]


def _english(word: str) -> list[str]:
    stem = word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word
    out = ["w:" + stem]
    if len(word) > 3 and word.isalpha():
        padded = f"<{word}>"
        out += ["e:" + padded[i:i + 4] for i in range(len(padded) - 3)]
    return out


def reading(norm: str) -> list[str]:
    """Toneless syllables of the text: Chinese characters, digits and '+', and Latin words typed as pinyin."""
    romanised = looks_like_pinyin(norm)
    out: list[str] = []
    for run in _RUNS.findall(norm):
        if run.isdigit() or run == "+":
            if len(run) <= 2:   # 3+2 reads san jia er; a year or a phone number reads as nothing
                out.extend(_DIGIT_READING[c] for c in run)
        elif run.isascii():
            if romanised and is_pinyin_word(run):
                out.extend(syllables(run))
        else:
            out.extend(syllables(run))
    return out


def tokens(norm: str, groups: tuple[str, ...] = GROUPS) -> list[str]:
    """Feature tokens of a normalised text (see `Normalizer`); `groups` picks kinds for ablation."""
    out: list[str] = []
    mixed_pinyin = looks_like_pinyin(norm)
    for chunk in norm.split():
        for run in _RUNS.findall(chunk):
            if not run.isascii():
                if "c" in groups:
                    out += _chinese_chars(run)
                if "w" in groups:
                    out += ["w:" + w for w in rjieba.cut(run) if len(w) > 1]
            elif run.isalpha():
                if mixed_pinyin and len(run) <= 6 and is_pinyin_word(run):
                    continue   # read below as pinyin, not as an English word
                out += [t for t in _english(run) if t[0] in groups]
            elif "w" in groups:
                out.append("w:" + run)
    if "p" in groups:
        sy = reading(norm)
        out += ["p:" + s for s in sy] + ["q:" + a + b for a, b in itertools.pairwise(sy)]
    return out
