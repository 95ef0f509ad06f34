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
