"""WeChat retries a message it got no reply to (three times, 5 seconds apart): every delivery of one
message shares the answer of the first, which alone logs and sends."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable

KEEP_SECONDS = 300.0        # a redelivery later than this is answered again (WeChat stops after ~15 s)
MAX_KEYS = 100_000


class Deduper:
    """Futures of the answers to recent messages, by their dedup key, dropped after KEEP_SECONDS."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, keep: float = KEEP_SECONDS,
                 max_keys: int = MAX_KEYS) -> None:
        self._clock, self._keep, self._max = clock, keep, max_keys
        self._seen: OrderedDict[str, tuple[float, asyncio.Future[list[str]]]] = OrderedDict()

    def claim(self, key: str) -> tuple[asyncio.Future[list[str]], bool]:
        """The future answer of this message, and True when this delivery is the first (it must answer)."""
        now = self._clock()
        while self._seen:
            first_key, (seen, _) = next(iter(self._seen.items()))
            if now - seen <= self._keep and len(self._seen) < self._max:
                break
            self._seen.pop(first_key)
        found = self._seen.get(key)
        if found is not None:
            return found[1], False
        future: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        self._seen[key] = (now, future)
        return future, True

    def forget(self, key: str) -> None:
        """Drop a message whose answer failed, so that WeChat's next retry tries again."""
        self._seen.pop(key, None)

    def __len__(self) -> int:
        return len(self._seen)
