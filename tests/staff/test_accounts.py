"""Staff accounts: argon2 hashes, the VOCBOT_STAFF_PASSWORD bootstrap of `admin`, sign-in by name, lockouts."""

from __future__ import annotations

import dataclasses

import pytest
import test_staff
from aiohttp.test_utils import TestClient, TestServer
from test_staff import PASSWORD, csrf_of, mount
from test_staff_auth import Clock

from bot.config import Settings
from bot.core.engine import Engine
from bot.log import accounts as rows
from bot.log.store import Store
from bot.service import Service
from bot.staff import accounts
from bot.staff.auth import FREE_ATTEMPTS

clock, staff_settings = test_staff.clock, test_staff.staff_settings     # the fixtures


async def sign_in(client: TestClient, name: str, password: str) -> int:
    form = await client.get("/staff/login")
    response = await client.post("/staff/login", data={"csrf": csrf_of(await form.text()), "name": name,
                                                       "password": password}, allow_redirects=False)
    return response.status


def test_passwords_are_stored_as_argon2id_hashes_only(settings: Settings) -> None:
    store = Store(settings)
    assert accounts.set_password(store, "alice", "a long password") is True
    stored = store.read(rows.get_hash, "alice")
    assert stored.startswith("$argon2id$") and "a long password" not in stored
    assert accounts.check_login(store, "alice", "a long password")
    assert not accounts.check_login(store, "alice", "a long passwore")
    assert not accounts.check_login(store, "nobody", "a long password")
    assert accounts.set_password(store, "alice", "another long one") is False
    assert not accounts.check_login(store, "alice", "a long password")


@pytest.mark.parametrize(("name", "password", "error"), [
    ("", "a long password", "not a valid account name"),
    ("a b", "a long password", "not a valid account name"),
    ("<script>", "a long password", "not a valid account name"),
    ("x" * 41, "a long password", "not a valid account name"),
    ("alice", "short", "at least 12 characters"),
])
def test_bad_names_and_short_passwords_are_refused(settings: Settings, name: str, password: str, error: str) -> None:
    with pytest.raises(accounts.AccountError, match=error):
        accounts.set_password(Store(settings), name, password)


def test_the_bootstrap_password_creates_and_follows_admin(settings: Settings) -> None:
    store = Store(settings)
    accounts.bootstrap(store, None)
    assert not accounts.any_accounts(store)
    accounts.bootstrap(store, "first-passphrase")
    first = store.read(rows.get_hash, "admin")
    accounts.bootstrap(store, "first-passphrase")
    assert store.read(rows.get_hash, "admin") == first                    # unchanged: not re-hashed
    accounts.bootstrap(store, "second-passphrase")
    assert accounts.check_login(store, "admin", "second-passphrase")
    assert not accounts.check_login(store, "admin", "first-passphrase")


async def test_accounts_sign_in_by_name_and_the_author_is_the_account(settings: Settings, engine: Engine,
                                                                      clock: Clock) -> None:
    store = Store(settings)
    accounts.set_password(store, "alice", "alice's long password")
    service = Service(settings, engine, store)                 # no VOCBOT_STAFF_PASSWORD: accounts alone
    async with TestClient(TestServer(mount(service, clock))) as client:
        assert await sign_in(client, "alice", "wrong password!") == 200
        assert await sign_in(client, "alice", "alice's long password") == 303
        page = await (await client.get("/staff/")).text()
        assert ">alice</span>" in page


async def test_the_dashboard_is_disabled_without_any_account(settings: Settings, engine: Engine) -> None:
    service = Service(settings, engine, Store(settings))
    async with TestClient(TestServer(mount(service))) as client:
        assert (await client.get("/staff/login")).status == 503


async def test_an_account_locks_after_repeated_wrong_passwords_from_any_address(staff_settings: Settings,
                                                                                 engine: Engine, clock: Clock) -> None:
    store = Store(staff_settings)
    accounts.set_password(store, "alice", "alice's long password")
    service = Service(staff_settings, engine, store)
    app = mount(service, clock)
    async with TestClient(TestServer(app)) as client:
        state = next(sub for sub in app._subapps).get(test_staff.staff.STAFF)
        for _ in range(FREE_ATTEMPTS - 1):
            assert await sign_in(client, "alice", "guess guess") == 200
        assert await sign_in(client, "alice", "guess guess") == 429
        state.guard.succeeded("127.0.0.1")                  # as if the next try came from another address
        assert await sign_in(client, "alice", "alice's long password") == 429     # the account stays locked
        assert await sign_in(client, "ALICE", "alice's long password") == 429     # in any spelling
        assert await sign_in(client, "admin", PASSWORD) == 303                     # other accounts are not
        clock.now += 1
        assert await sign_in(client, "alice", "alice's long password") == 303


def test_settings_without_password_keep_accounts_in_the_database(settings: Settings) -> None:
    accounts.bootstrap(Store(settings), "bootstrap password")
    assert accounts.any_accounts(Store(dataclasses.replace(settings, staff_password=None)))
