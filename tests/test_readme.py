"""The README is the contract: its commands exist and every setting the code reads is documented."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from bot.cli.main import cli
from bot.config import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
COMMANDS = sorted({m.group(1).strip() for m in re.finditer(r"`vocbot ((?:[a-z]+)(?: [a-z]+)?)", README)})


def test_the_two_commands_are_there() -> None:
    assert "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/vocbot serve" in README
    assert "bash scripts/test.sh" in README
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_readme_command_exists(command: str) -> None:
    words = command.split()
    group = cli
    for i, word in enumerate(words):
        sub = group.commands.get(word) if hasattr(group, "commands") else None
        if sub is None:
            assert i > 0, f"`vocbot {command}` is in the README but not a command"
            break   # the rest is an argument, e.g. `vocbot ask "问题"`
        group = sub
    result = CliRunner().invoke(cli, [*words[: i + 1 if sub else i], "--help"])
    assert result.exit_code == 0, result.output


def test_every_setting_is_documented() -> None:
    sources = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "bot").glob("*.py"))
    names = set(re.findall(r'"((?:VOCBOT|TELEGRAM|WECHAT)_[A-Z_]+)"', sources)) - {"TELEGRAM_STATE"}
    assert names, "no settings found"
    missing = sorted(n for n in names if f"`{n}`" not in README)
    assert missing == []
