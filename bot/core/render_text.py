"""Plain-text rendering of a reply, for the terminal."""

from __future__ import annotations

from bot.core.engine import Engine, Reply


def render_reply(engine: Engine, reply: Reply, numbered: bool = False) -> str:
    """The reply as a person reads it in a terminal; choices numbered when asked."""
    lines = [reply.answer]
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
