"""Who a Telegram message is for and which enquiry an update is: mentions, replies and update-derived ids."""

from __future__ import annotations

from typing import Any

from telegram import Message, MessageEntity

from bot.service import Service


def addressed_to_bot(message: Message, bot: Any) -> bool:
    """In a group: a command, a mention of the bot, or a reply to one of its messages."""
    if message.reply_to_message and message.reply_to_message.from_user \
            and message.reply_to_message.from_user.id == bot.id:
        return True
    entities = message.parse_entities() if message.text else message.parse_caption_entities()
    for entity, value in entities.items():
        if entity.type == MessageEntity.BOT_COMMAND and entity.offset == 0:
            return True
        if entity.type == MessageEntity.MENTION and value.lower() == f"@{bot.username}".lower():
            return True
        if entity.type == MessageEntity.TEXT_MENTION and entity.user and entity.user.id == bot.id:
            return True
    return False


def strip_mention(text: str, username: str | None) -> str:
    """The question without the @botname that addressed it."""
    if username:
        lowered, needle = text.lower(), f"@{username}".lower()
        while needle in lowered:
            at = lowered.index(needle)
            text, lowered = text[:at] + text[at + len(needle):], lowered[:at] + lowered[at + len(needle):]
    return text.strip()


def update_enquiry_id(service: Service, bot_id: int, update_id: int) -> str:
    """A 16-character enquiry id fixed by the update, so an update delivered again after a crash logs once.

    Keyed (HMAC under the store's key), so ids are neither sequential nor guessable from update ids.
    """
    return "t" + service.store.digest("telegram update", f"{bot_id}:{update_id}", 15)
