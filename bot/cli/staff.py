"""`vocbot staff add|passwd|list`: the dashboard's accounts (argon2 hashes in the enquiry database)."""

from __future__ import annotations

import click

from bot.cli.loading import settings_or_exit
from bot.errors import VocbotError


def _store():
    from bot.log.store import Store

    try:
        return Store(settings_or_exit())
    except VocbotError as exc:
        raise click.ClickException(str(exc)) from None


def _set(name: str, password: str, must_be_new: bool | None) -> None:
    from bot.log import accounts as rows
    from bot.staff import accounts

    store = _store()
    try:
        exists = store.read(rows.get_hash, accounts.check_name(name)) is not None
        if must_be_new is True and exists:
            raise click.ClickException(f"Account {name} already exists; change its password with "
                                       f"`vocbot staff passwd {name}`.")
        if must_be_new is False and not exists:
            raise click.ClickException(f"There is no account {name}; create it with `vocbot staff add {name}`.")
        accounts.set_password(store, name, password)
    except VocbotError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{'created' if must_be_new else 'changed the password of'} account {name}")


@click.group()
def staff() -> None:
    """Manage the staff dashboard's accounts."""


@staff.command("add")
@click.argument("name")
@click.password_option(help="The password (asked twice when not given; at least 10 characters).")
def staff_add(name: str, password: str) -> None:
    """Create an account NAME."""
    _set(name, password, True)


@staff.command("passwd")
@click.argument("name")
@click.password_option(help="The new password (asked twice when not given).")
def staff_passwd(name: str, password: str) -> None:
    """Change the password of account NAME."""
    _set(name, password, False)


@staff.command("list")
def staff_list() -> None:
    """List the accounts with when they were created and their password last changed."""
    from bot.log import accounts as rows

    found = _store().read(rows.list_accounts)
    for row in found:
        click.echo(f"{row['name']:24} created {row['created'][:19]}Z  password changed {row['updated'][:19]}Z")
    if not found:
        click.echo("no accounts (set VOCBOT_STAFF_PASSWORD for an admin account, or run vocbot staff add NAME)")
