"""Plain-text rendering of a reply and of route-finder screens, for the terminal and other text channels."""

from __future__ import annotations

from bot.core.engine import Engine
from bot.core.reply import Reply
from bot.core.routes import RouteResult, RouteStep


def general_block(engine: Engine, reply: Reply) -> str:
    """The general explanation under its label, set apart by a rule, or "" when the reply has none."""
    if not reply.general:
        return ""
    label = engine.content.message("general_label", reply.lang)
    return f"[{label}]\n{reply.general}\n" + "-" * 40 + "\n"


def render_reply(engine: Engine, reply: Reply, numbered: bool = False) -> str:
    """The reply as a person reads it in a terminal; choices numbered when asked."""
    lines = [general_block(engine, reply) + reply.answer]
    options = list(reply.choices) or list(reply.related)
    if options:
        header = "" if reply.choices else engine.content.message("related_header", reply.lang)
        if header:
            lines.append("")
            lines.append(header)
        for n, choice in enumerate(options, 1):
            lines.append(f"  {n}. {choice.title}" if numbered or reply.choices else f"  · {choice.title}")
    if reply.decision == "fallback":
        lines.append("")
        lines.append(engine.content.message("menu_header", reply.lang))
        lines.extend(f"  · {topic.title[reply.lang]}" for topic in engine.menu.topics_for(None))
    return "\n".join(lines)


def split_text(text: str, max_bytes: int) -> list[str]:
    """Cut text into parts of at most max_bytes UTF-8 bytes, at paragraph, then line, then character ends."""
    parts: list[str] = []
    current = ""
    for piece in _pieces(text, max_bytes):
        joined = f"{current}\n{piece}" if current else piece
        if len(joined.encode("utf-8")) <= max_bytes:
            current = joined
        else:
            parts.append(current)
            current = piece
    if current or not parts:
        parts.append(current)
    return [part.strip("\n") for part in parts if part.strip()] or [""]


def _pieces(text: str, max_bytes: int) -> list[str]:
    """Lines short enough to fit a part; a longer line is cut between characters."""
    pieces: list[str] = []
    for line in text.split("\n"):
        while len(line.encode("utf-8")) > max_bytes:
            cut = len(line.encode("utf-8")[:max_bytes].decode("utf-8", "ignore"))
            pieces.append(line[:cut])
            line = line[cut:]
        pieces.append(line)
    return pieces
def render_route_step(engine: Engine, step: RouteStep, lang: str) -> str:
    """A route-finder step: progress, the question and its options numbered from 1."""
    message = engine.content.message
    lines = [message("route_step", lang, number=step.number, total=step.total), step.question]
    lines += [f"  {n}. {option.label}" for n, option in enumerate(step.options, 1)]
    return "\n".join(lines)


def render_route_result(engine: Engine, result: RouteResult) -> str:
    """A route-finder result: each item with its reason and clauses, what the plan leaves open, whom to ask."""
    lang = result.lang
    message = engine.content.message
    comma = "、" if lang == "zh" else ", "
    lines = [result.title, ""]
    for n, item in enumerate(result.items, 1):
        lines += [f"{n}. {item.title}", f"   {item.why}",
                  "   " + message("route_source", lang, clauses=comma.join(item.source)), ""]
    if result.not_in_plan:
        lines += [message("route_not_in_plan", lang), *(f"  - {g}" for g in result.not_in_plan), ""]
    lines += [message("route_ask", lang), *(f"  - {d}" for d in result.ask)]
    return "\n".join(lines)
