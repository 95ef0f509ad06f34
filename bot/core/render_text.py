"""Plain-text rendering of a reply, for the terminal."""

from __future__ import annotations

from bot.core.engine import Engine, Reply


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
