"""The Official Account's custom menu, built from content/menu.yaml (topics) and content/messages.yaml (labels).

Three buttons: students and parents, enterprises (each: the route finder, their first topics, all their
topics) and "more" (school staff, every topic, contact staff, about the plan, privacy). Click keys are read
back by bot.channels.wechat.conversation: `route:<audience>`, `topic:<id>`, `audience:<id>`, `menu`,
`staff`, `about`, `privacy`.
"""

from __future__ import annotations

from typing import Any

from bot.core.engine import Engine
from bot.errors import DataError

MAX_BUTTONS, MAX_SUB = 3, 5                 # WeChat's limits: 3 buttons of at most 5 items
MAX_NAME, MAX_SUB_NAME, MAX_KEY = 16, 60, 128   # bytes
ROUTES = {"student": "wx_menu_route_student", "enterprise": "wx_menu_route_enterprise"}


def build_menu(engine: Engine, lang: str = "zh") -> dict[str, Any]:
    """The `menu/create` payload; DataError naming the text that breaks one of WeChat's limits."""
    message, menu = engine.content.message, engine.menu
    buttons = []
    for audience_id, label in (("student", "wx_menu_student"), ("enterprise", "wx_menu_enterprise")):
        audience = menu.audiences.get(audience_id)
        if audience is None:
            raise DataError("content/menu.yaml", "the WeChat menu needs this audience.", intent=audience_id)
        items = [_click(message(ROUTES[audience_id], lang), f"route:{audience_id}")]
        items += [_click(menu.topics[t].title[lang], f"topic:{t}") for t in audience.topics[:MAX_SUB - 2]]
        items.append(_click(message("wx_menu_audience_topics", lang), f"audience:{audience_id}"))
        buttons.append({"name": message(label, lang), "sub_button": items})
    more = [_click(a.title[lang], f"audience:{a.id}") for a in menu.audiences.values()
            if a.id not in ("student", "enterprise")][:1]
    more += [_click(message("wx_menu_all_topics", lang), "menu"), _click(message("contact_staff", lang), "staff"),
             _click(message("wx_menu_about", lang), "about"), _click(message("web_privacy", lang), "privacy")]
    buttons.append({"name": message("wx_menu_more", lang), "sub_button": more[:MAX_SUB]})
    check_menu({"button": buttons})
    return {"button": buttons}


def _click(name: str, key: str) -> dict[str, str]:
    return {"type": "click", "name": name, "key": key}


def check_menu(menu: dict[str, Any]) -> None:
    """WeChat's limits on a custom menu, checked before it is sent."""
    buttons = menu["button"]
    if not 1 <= len(buttons) <= MAX_BUTTONS:
        raise DataError("content/messages.yaml", f"a WeChat menu has 1-{MAX_BUTTONS} buttons.", field="wx_menu")
    for button in buttons:
        _fits(button["name"], MAX_NAME)
        subs = button.get("sub_button") or []
        if len(subs) > MAX_SUB:
            raise DataError("content/messages.yaml", f"a WeChat menu button has at most {MAX_SUB} items.",
                            intent=button["name"], field="wx_menu")
        for sub in subs:
            _fits(sub["name"], MAX_SUB_NAME)
            if len(sub["key"].encode("utf-8")) > MAX_KEY:
                raise DataError("content/menu.yaml", f"the menu key {sub['key']!r} is over {MAX_KEY} bytes.")


def _fits(name: str, limit: int) -> None:
    if not name or len(name.encode("utf-8")) > limit:
        raise DataError("content/messages.yaml", f"the WeChat menu label {name!r} must be 1-{limit} bytes.",
                        field="wx_menu")
