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
