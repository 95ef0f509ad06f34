"""Turn what people type into one canonical form, the same for questions and examples."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence

import opencc

MAX_INPUT = 4000   # characters looked at before normalising
MAX_MATCH = 200    # characters of the normalised text that are matched

_T2S = opencc.OpenCC("t2s")
_CN_DIGITS = {"零": "0", "一": "1", "二": "2", "两": "2", "三": "3", "四": "4", "五": "5", "六": "6",
              "七": "7", "八": "8", "九": "9"}
_DIGIT = "[0-9零一二两三四五六七八九]"
# "3加2", "三 + 二", "3 plus 2": fold to "3+2"; only next to a digit, so 一带一路 stays as it is.
_PLUS = re.compile(rf"({_DIGIT})\s*(?:加|\+|plus|jia|＋)\s*({_DIGIT}|x(?![a-z]))")
_KEEP = re.compile(r"[^0-9a-z+\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_INVISIBLE = re.compile(r"[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\ud800-\udfff]")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"[a-zA-Z]+")
# Markup and links say nothing about what is asked (a pasted <iframe src="http://x"> once read as 1+X).
_MARKUP = re.compile(r"<[a-z/!?][^<>]{0,200}>|(?:https?://|www\.)\S*")


def detect_lang(text: str, default: str = "zh") -> str:
    """'zh' for text with Chinese characters, 'en' for Latin letters only, else the default."""
    sample = text[:MAX_INPUT]
    cjk = len(_CJK.findall(sample))
    words = len(_WORD.findall(sample))
    if cjk == 0 and words == 0:
        return default
    return "en" if words * 2 > cjk else "zh"


def simplified(text: str) -> str:
    """Traditional characters as simplified ones, as the normaliser reads them, without invisible characters
    (a lone surrogate cannot even be converted)."""
    return _T2S.convert(_INVISIBLE.sub("", text))


def _fold_plus(match: re.Match[str]) -> str:
    a, b = match.group(1), match.group(2)
    return f"{_CN_DIGITS.get(a, a)}+{_CN_DIGITS.get(b, b)}"


class Normalizer:
    """NFKC, case folding, traditional to simplified, punctuation removal, synonyms; built once."""

    def __init__(self, synonyms: Mapping[str, Sequence[str]] | None = None) -> None:
        pairs: dict[str, str] = {}
        for canon in synonyms or {}:
            # A canonical word maps to itself, so a variant inside it (职高 in 中职高职) is not rewritten.
            pairs[self.basic(canon)] = self.basic(canon)
        for canon, variants in (synonyms or {}).items():
            for variant in variants:
                key = self.basic(variant)
                if key and key not in pairs:
                    pairs[key] = self.basic(canon)
        self._pairs = pairs
        self.signature = hash(tuple(sorted(pairs.items())))   # equal synonyms, equal output (in this process)
        alternatives = sorted(pairs, key=len, reverse=True)
        self._synonym_re = (re.compile("|".join(_boundary(re.escape(a)) for a in alternatives))
                            if alternatives else None)

    @staticmethod
    def basic(text: str) -> str:
        """Everything except synonyms: the form keywords and synonyms are written in."""
        text = _INVISIBLE.sub("", text[:MAX_INPUT])
        text = _MARKUP.sub(" ", unicodedata.normalize("NFKC", text).casefold())
        text = _T2S.convert(text)
        text = _KEEP.sub(" ", text)
        text = _PLUS.sub(_fold_plus, text)
        return " ".join(text.split())

    def __call__(self, text: str) -> str:
        """The canonical form used for matching."""
        text = self.basic(text)
        if self._synonym_re is not None:
            text = self._synonym_re.sub(lambda m: self._pairs[m.group(0).strip()] if m.group(0).strip()
                                        in self._pairs else m.group(0), text)
        return text[:MAX_MATCH].strip()


def _boundary(pattern: str) -> str:
    """English variants match whole words only; Chinese ones anywhere."""
    if re.fullmatch(r"[a-z0-9\\ +]+", pattern):
        return rf"(?<![a-z0-9]){pattern}(?![a-z0-9])"
    return pattern
