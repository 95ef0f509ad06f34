"""WeChat's opt-in notices: the sender the notifier (bot.notify) calls once a question gets an answer.

The openid is the reply address; the log keeps it only sealed and erases it once the notice is sent, on
"取消通知", or at the end of the retention period. Notices go out as customer-service messages, which WeChat
accepts only within 48 hours of the user's last message: a refusal leaves the notice pending.
"""

from __future__ import annotations

from typing import Any

from bot.channels.wechat import render
from bot.channels.wechat.api import WeChatApi, WeChatApiError
from bot.core.reply import Reply
from bot.notify import NotSent, Sender
from bot.service import Service


def sender(service: Service, api: WeChatApi) -> Sender:
    """The notifier's WeChat sender: the question quoted, then the answer, split under the message limit."""
    async def send(row: dict[str, Any], reply: Reply, address: str | None) -> None:
        if address is None:
            raise ValueError("a WeChat opt-in without an openid")
        engine = service.engine
        intro = engine.content.message("optin_notice", reply.lang, question=row["question"])
        text = f"{intro}\n\n{render.reply_text(engine, reply).text}"
        for n, part in enumerate(render.parts(text)):
            try:
                await api.send_text(address, part)
            except WeChatApiError as exc:
                if n == 0:     # refused (e.g. past WeChat's 48-hour window): nothing went out, retry later
                    raise NotSent(str(exc)) from exc
                raise          # part of it went out: never risk a second copy

    return send
