"""The vocabulary of details the plan may not give (fees, dates, schools, ...), from `intents/details.yaml`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bot.core.content import LANGS
from bot.core.yamlfile import read_yaml
from bot.errors import DataError

DETAILS_FILE = "details.yaml"


@dataclass(frozen=True)
class DetailKind:
    """One kind of detail a question can ask for, recognised by patterns."""

    id: str
    label: dict[str, str]
    patterns: tuple[re.Pattern[str], ...]
    yields_to: tuple[str, ...] = ()

    def asked(self, *texts: str) -> bool:
        """Whether any pattern occurs in any of the texts."""
        return self.where(*texts) is not None

    def where(self, *texts: str) -> int | None:
        """Where the first text that asks for this detail asks for it first, or None."""
        for text in texts:
            found = [m.start() for p in self.patterns if text and (m := p.search(text))]
            if found:
                return min(found)
        return None


def compile_patterns(values: object, path: str, where: str, field: str) -> tuple[re.Pattern[str], ...]:
    """Compile a list of regular expressions; raise DataError naming the bad one."""
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise DataError(path, "must be a list of regular expressions.", intent=where, field=field)
    out = []
    for text in values:
        try:
            out.append(re.compile(text))
        except re.error as exc:
            raise DataError(path, f"has an invalid regular expression {text!r} ({exc}).",
                            intent=where, field=field) from None
    return tuple(out)


def load_details(path: Path) -> dict[str, DetailKind]:
    """Load the detail kinds; an absent file means an empty vocabulary."""
    if not path.exists():
        return {}
    data = read_yaml(path) or {}
    kinds = data.get("kinds") if isinstance(data, dict) else None
    if not isinstance(kinds, list):
        raise DataError(str(path), "must be a mapping with a list under `kinds`.", field="kinds")
    out: dict[str, DetailKind] = {}
    for i, raw in enumerate(kinds):
        kid = raw.get("id") if isinstance(raw, dict) else None
        if not isinstance(kid, str) or not kid.strip():
            raise DataError(str(path), "is missing.", intent=f"kind #{i + 1}", field="id")
        if kid in out:
            raise DataError(str(path), "duplicate kind id.", intent=kid, field="id")
        label = raw.get("label")
        if not isinstance(label, dict) or not all(isinstance(label.get(lang), str) for lang in LANGS):
            raise DataError(str(path), "must have a zh and an en text.", intent=kid, field="label")
        yields = raw.get("yields_to") or []
        if not isinstance(yields, list):
            raise DataError(str(path), "must be a list of kind ids.", intent=kid, field="yields_to")
        out[kid] = DetailKind(kid, {lang: label[lang] for lang in LANGS},
                              compile_patterns(raw.get("patterns"), str(path), kid, "patterns"),
                              tuple(str(y) for y in yields))
    for kind in out.values():
        unknown = [y for y in kind.yields_to if y not in out]
        if unknown:
            raise DataError(str(path), f"names unknown kinds {unknown}.", intent=kind.id, field="yields_to")
    return out


def asked_kinds(kinds: dict[str, DetailKind], *texts: str) -> list[str]:
    """The kinds of detail the texts ask for, in the order the question asks them."""
    places = {k.id: pos for k in kinds.values() if (pos := k.where(*texts)) is not None}
    order = list(kinds)
    return sorted(places, key=lambda kid: (places[kid], order.index(kid)))


def leading_kinds(kinds: dict[str, DetailKind], asked: list[str], covered: dict[str, object]) -> list[str]:
    """The asked kinds an answer covers, minus those that yield to a broader kind it covers too (fees > amounts)."""
    hits = [k for k in asked if k in covered]
    return [k for k in hits if not any(y in hits for y in kinds[k].yields_to)]
