"""Staff sign-in state: sessions end when idle or old and stay bounded; failed sign-ins lock an address out."""

from __future__ import annotations

import pytest

from bot.staff import auth as staff_auth
from bot.staff.auth import SESSION_IDLE, SESSION_MAX, LoginGuard, Sessions


class Clock:
    """A hand-moved clock for sessions and lockouts."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("failures", "lockout"), [(1, 0), (4, 0), (5, 1), (6, 2), (7, 4), (10, 32), (20, 900)])
def test_the_lockout_doubles_with_each_failure_up_to_a_limit(failures: int, lockout: int) -> None:
    clock = Clock()
    guard = LoginGuard(clock)
    for _ in range(failures):
        last = guard.failed("10.0.0.1")
    assert last == lockout
    assert guard.wait("10.0.0.1") == lockout
    assert guard.wait("10.0.0.2") == 0                                 # per address
    clock.now += lockout
    assert guard.wait("10.0.0.1") == 0
    guard.succeeded("10.0.0.1")
    assert guard.failed("10.0.0.1") == 0                               # a sign-in resets the count


def test_sessions_have_idle_and_absolute_limits_and_a_size_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    sessions = Sessions(clock)
    session = sessions.create(authenticated=True)
    for _ in range(SESSION_MAX // SESSION_IDLE + 1):
        clock.now += SESSION_IDLE - 1
        alive = sessions.get(session.id)
    assert alive is None                                               # kept busy, still ends at SESSION_MAX
    monkeypatch.setattr(staff_auth, "MAX_SESSIONS", 3)
    kept = sessions.create(authenticated=True)
    for _ in range(5):
        sessions.create(authenticated=False)
    assert len(sessions) == 3 and sessions.get(kept.id) is kept        # anonymous forms are evicted first


# ---- issue 12 row 5: a limit over every address ---------------------------------------------------------
def test_guesses_spread_over_many_addresses_are_limited_too() -> None:
    """The review's case: 152 guesses from 38 addresses (4 each, under the per-address limit) got no 429."""
    clock = Clock()
    guard = LoginGuard(clock)
    allowed = 0
    for guess in range(152):
        address = f"127.0.0.{guess % 38 + 1}"
        if guard.wait(address):
            continue
        allowed += 1
        guard.failed(address)
        clock.now += 0.1
    assert allowed == staff_auth.GLOBAL_FAILURES == 30
    assert guard.wait("192.0.2.200") > 0                               # everyone waits, even a new address


def test_the_wait_for_everyone_grows_and_ends_when_the_guessing_stops() -> None:
    clock = Clock()
    guard = LoginGuard(clock)
    for n in range(staff_auth.GLOBAL_FAILURES):
        last = guard.failed(f"10.1.0.{n}")
    waits = [last]
    for n in range(3):                                  # guessing goes on as soon as each wait ends
        clock.now += waits[-1]
        waits.append(guard.failed(f"10.2.0.{n}"))
    assert waits == [2, 4, 8, 16]
    clock.now += staff_auth.GLOBAL_WINDOW + 60           # a quiet minute: back to normal
    assert guard.wait("10.3.0.1") == 0 and guard.failed("10.3.0.1") == 0
