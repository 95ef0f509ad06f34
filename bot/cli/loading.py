"""What every command needs first: the settings and the engine, or one line saying what is wrong."""

from __future__ import annotations

import click

from bot.config import Settings
from bot.errors import VocbotError


def settings_or_exit() -> Settings:
    """The settings from the environment, or exit with the problem as one line."""
    try:
        return Settings.from_env()
    except VocbotError as exc:
        raise click.ClickException(str(exc)) from None


def load_engine(settings: Settings | None = None):
    """Load the engine or exit with the data error as one line."""
    from bot.core.engine import Engine

    settings = settings or settings_or_exit()
    try:
        return Engine.load(settings.intents_dir, settings.content_dir, settings.model_dir)
    except VocbotError as exc:
        raise click.ClickException(str(exc)) from None
