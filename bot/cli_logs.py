"""`vocbot logs ...`: the staff's command line over the enquiry log."""

from __future__ import annotations

import click


@click.group()
def logs() -> None:
    """Read, export, purge and learn from the enquiry log."""
