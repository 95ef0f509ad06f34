"""Staff sign-in state: server-side sessions with idle and absolute expiry, and the per-address lockout."""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

SESSION_IDLE = 2 * 3600          # seconds a signed-in session lives without requests
SESSION_MAX = 12 * 3600          # seconds a signed-in session lives at most
PRELOGIN_TTL = 1800              # seconds a sign-in form stays valid
MAX_SESSIONS = 1000
FREE_ATTEMPTS = 5                # failed sign-ins per address before the lockout starts
MAX_LOCKOUT = 900                # seconds; the lockout doubles with every further failure up to this
MAX_ADDRESSES = 10_000
GLOBAL_FAILURES = 30             # failed sign-ins a minute over every address before everyone must wait
GLOBAL_WINDOW = 60.0             # seconds those failures are counted over


@dataclass
class Session:
    """One browser's state on the server; the cookie only holds the random id."""

    id: str
    csrf: str
    authenticated: bool
    created: float
    seen: float
    lang: str = "zh"
    user: str = ""                  # the staff account signed in (authors of versions)
    flash: list[tuple[str, str]] = field(default_factory=list)


class Sessions:
    """Server-side sessions in memory, with idle and absolute expiry and a size bound."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._items: dict[str, Session] = {}

    def create(self, authenticated: bool, lang: str = "zh", user: str = "") -> Session:
        """A new session with a fresh random id and CSRF token."""
        now = self.clock()
        if len(self._items) >= MAX_SESSIONS:
            self._prune(now)
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), authenticated, now, now, lang, user)
        self._items[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session with this id (touching it), or None."""
        session = self._items.get(session_id or "")
        if session is None:
            return None
        now = self.clock()
        if self._expired(session, now):
            del self._items[session.id]
            return None
        session.seen = now
        return session

    def drop(self, session_id: str) -> None:
        """Forget a session (sign-out, or the pre-sign-in session after sign-in)."""
        self._items.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._items)

    def _expired(self, s: Session, now: float) -> bool:
        if s.authenticated:
            return now - s.seen > SESSION_IDLE or now - s.created > SESSION_MAX
        return now - s.created > PRELOGIN_TTL

    def _prune(self, now: float) -> None:
        for sid in [sid for sid, s in self._items.items() if self._expired(s, now)]:
            del self._items[sid]
        # Still full: the oldest anonymous sign-in forms go first, then the oldest sessions.
        ordered = sorted(self._items.values(), key=lambda s: (s.authenticated, s.seen))
        for s in ordered[:max(0, len(self._items) - MAX_SESSIONS + 1)]:
            del self._items[s.id]


class LoginGuard:
    """Failed sign-ins per key (an address or an account): after FREE_ATTEMPTS, a lockout doubling per failure;
    and over all keys: after GLOBAL_FAILURES a minute everyone waits, longer each time, so guesses spread over
    many addresses are limited too. Signed-in sessions are not affected."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._failures: dict[str, tuple[int, float]] = {}    # key -> (failures, locked until)
        self._recent: deque[float] = deque()                  # times of the failures of the last GLOBAL_WINDOW
        self._strikes = 0                                     # global lockouts in a row
        self._everyone_until = 0.0

    def wait(self, address: str) -> int:
        """Seconds this key must wait before it may try again (0: it may try now), the wait for everyone included."""
        _, until = self._failures.get(address, (0, 0.0))
        return max(0, int(max(until, self._everyone_until) - self.clock() + 0.999))

    def failed(self, address: str) -> int:
        """Count a failure; return the lockout it starts in seconds (0 while attempts are free)."""
        if len(self._failures) >= MAX_ADDRESSES:
            now = self.clock()
            self._failures = {a: v for a, v in self._failures.items() if v[1] > now}
        count = self._failures.get(address, (0, 0.0))[0] + 1
        lockout = 0 if count < FREE_ATTEMPTS else min(MAX_LOCKOUT, 2 ** (count - FREE_ATTEMPTS))
        now = self.clock()
        self._failures[address] = (count, now + lockout)
        while self._recent and now - self._recent[0] > GLOBAL_WINDOW:
            self._recent.popleft()
        self._recent.append(now)
        if len(self._recent) < GLOBAL_FAILURES:
            self._strikes = 0
            return lockout
        self._strikes += 1
        everyone = min(MAX_LOCKOUT, 2 ** self._strikes)
        self._everyone_until = max(self._everyone_until, now + everyone)
        return max(lockout, everyone)

    def succeeded(self, address: str) -> None:
        """Forget the failures of an address that signed in."""
        self._failures.pop(address, None)
