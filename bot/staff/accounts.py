"""Staff accounts: argon2id password hashes, checks, and the VOCBOT_STAFF_PASSWORD bootstrap of `admin`."""

from __future__ import annotations

import logging
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from bot.config import MIN_PASSWORD, check_password
from bot.errors import VocbotError
from bot.log import accounts as rows
from bot.log.store import Store

log = logging.getLogger(__name__)
BOOTSTRAP = "admin"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
_HASHER = PasswordHasher()
# Checked when a name is unknown, so an unknown name costs as much time as a wrong password.
_DUMMY = _HASHER.hash("vocbot-no-such-account")


class AccountError(VocbotError):
    """An account name or password that cannot be used."""


def check_name(name: str) -> str:
    """The name if it is 1-40 letters, digits, dot, dash or underscore; AccountError otherwise."""
    if not NAME.match(name or ""):
        raise AccountError(f"{name!r} is not a valid account name: use 1-40 letters, digits, '.', '-' or '_'.")
    return name


def hash_password(password: str) -> str:
    """An argon2id hash; AccountError when the password is too short."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"The password must have at least {MIN_PASSWORD} characters.")
    return _HASHER.hash(password)


def verify(stored: str | None, password: str) -> bool:
    """Whether the password matches the stored hash (constant work when there is no account)."""
    try:
        return _HASHER.verify(stored or _DUMMY, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def set_password(store: Store, name: str, password: str) -> bool:
    """Create an account or change its password; True when it was created."""
    digest = hash_password(password)
    return store.change(rows.set_hash, check_name(name), digest)


def check_login(store: Store, name: str, password: str) -> bool:
    """Whether name and password match an account (blocking: call it in a worker thread)."""
    stored = store.read(rows.get_hash, name) if NAME.match(name or "") else None
    return verify(stored, password)


def bootstrap(store: Store, password: str | None) -> None:
    """Keep `admin` in step with VOCBOT_STAFF_PASSWORD (created or re-hashed when the variable changed)."""
    if not password:
        return
    stored = store.read(rows.get_hash, BOOTSTRAP)
    if stored is not None and verify(stored, password):
        return
    check_password(password)      # shorter than MIN_PASSWORD: refused with one line (bot.config)
    store.change(rows.set_hash, BOOTSTRAP, _HASHER.hash(password))
    log.info("staff accounts: %s account %s from VOCBOT_STAFF_PASSWORD", BOOTSTRAP,
             "updated" if stored else "created")


def any_accounts(store: Store) -> bool:
    """Whether at least one account exists."""
    return store.read(rows.count) > 0
