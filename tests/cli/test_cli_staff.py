"""`vocbot staff add|passwd|list`."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli.main import cli
from bot.config import Settings
from bot.log import accounts as rows
from bot.log.store import Store
from bot.staff import accounts


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("VOCBOT_DB", str(tmp_path / "log.db"))
    monkeypatch.setenv("VOCBOT_HASH_KEY", "test-key")
    return Settings.from_env()


def run(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["staff", *args], input=stdin)
    return result.exit_code, result.output


def test_add_passwd_and_list(env: Settings) -> None:
    assert run("list") == (0, "no accounts (set VOCBOT_STAFF_PASSWORD for an admin account, or run vocbot staff "
                              "add NAME)\n")
    code, out = run("add", "alice", stdin="first long password\nfirst long password\n")
    assert code == 0 and "created account alice" in out
    assert accounts.check_login(Store(env), "alice", "first long password")
    assert run("passwd", "alice", "--password", "second long password")[0] == 0
    assert accounts.check_login(Store(env), "alice", "second long password")
    code, out = run("list")
    assert code == 0 and out.startswith("alice ") and "password" in out and "$argon2" not in out


@pytest.mark.parametrize(("args", "error"), [
    (("add", "alice", "--password", "short"), "at least 12 characters"),
    (("add", "bad name", "--password", "a long password"), "not a valid account name"),
    (("passwd", "nobody", "--password", "a long password"), "There is no account nobody"),
])
def test_refusals_are_one_line(env: Settings, args: tuple[str, ...], error: str) -> None:
    code, out = run(*args)
    assert code == 1 and error in out and "Traceback" not in out
    assert Store(env).read(rows.count) == 0


def test_adding_an_existing_account_is_refused(env: Settings) -> None:
    assert run("add", "alice", "--password", "a long password")[0] == 0
    code, out = run("add", "alice", "--password", "another password")
    assert code == 1 and "already exists" in out
    assert accounts.check_login(Store(env), "alice", "a long password")
