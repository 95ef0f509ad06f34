"""Retried messages share the first delivery's answer for 5 minutes; a failed answer is tried again."""

from __future__ import annotations

from bot.channels.wechat.dedup import KEEP_SECONDS, Deduper


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_retry_shares_the_first_answer_until_it_is_old() -> None:
    clock = Clock()
    dedup = Deduper(clock)
    first, owner = dedup.claim("m:1")
    again, second_owner = dedup.claim("m:1")
    assert (owner, second_owner, again is first) == (True, False, True)
    clock.now += KEEP_SECONDS + 1
    later, owner_later = dedup.claim("m:1")
    assert owner_later and later is not first


async def test_forget_lets_the_next_retry_answer_and_the_size_is_bounded() -> None:
    dedup = Deduper(max_keys=3)
    dedup.claim("m:1")
    dedup.forget("m:1")
    assert dedup.claim("m:1")[1]
    for n in range(10):
        dedup.claim(f"m:x{n}")
    assert len(dedup) <= 3
