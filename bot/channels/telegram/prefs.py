"""Telegram users' preferences (audience, language): the log is the truth, a small cache sits in front."""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from telegram import User

from bot.service import Service

CHANNEL = "telegram"


def lang_of_code(code: str | None) -> str:
    """Telegram's language_code as zh or en (Chinese first: no code means zh)."""
    if not code:
        return "zh"
    return "zh" if code.lower().startswith("zh") else "en"



class Prefs:
    """Users' audience and language: SQLite (store.set_pref/get_pref) is the truth, a small cache in front."""

    def __init__(self, service: Service, size: int = 10_000) -> None:
        self.service = service
        self.size = size
        self._cache: OrderedDict[str, dict[str, str | None]] = OrderedDict()

    def key(self, user: User) -> str:
        """The user's pseudonym."""
        return self.service.user_key(CHANNEL, user.id)

    async def get(self, user: User) -> dict[str, str | None]:
        """{'audience': ..., 'lang': ...}, possibly empty."""
        key = self.key(user)
        if key not in self._cache:
            found = await asyncio.to_thread(self.service.store.get_pref, key)
            self._remember(key, dict(found or {}))
        self._cache.move_to_end(key)
        return self._cache[key]

    async def lang(self, user: User | None) -> str:
        """The language to talk to this user in."""
        if user is None:
            return "zh"
        return (await self.get(user)).get("lang") or lang_of_code(user.language_code)

    async def set(self, user: User, **values: str) -> None:
        """Remember and store preferences."""
        current = await self.get(user)
        if all(current.get(k) == v for k, v in values.items()):
            return
        self._remember(self.key(user), {**current, **values})
        await self.service.store.set_pref(self.key(user), **values)

    def _remember(self, key: str, prefs: dict[str, str | None]) -> None:
        self._cache[key] = prefs
        while len(self._cache) > self.size:
            self._cache.popitem(last=False)
