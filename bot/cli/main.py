"""The `vocbot` command line: thin click wrappers over library calls."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.cli.loading import load_engine, settings_or_exit
from bot.cli.logs import logs
from bot.cli.staff import staff
from bot.cli.wechat import wechat
from bot.config import Settings
from bot.errors import VocbotError

if TYPE_CHECKING:   # imported when used, so `vocbot ask` starts without the log
    from bot.log.sync import SyncLogger


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vocbot")
def cli() -> None:
    """vocbot: answers questions about 北碚府发〔2020〕44号, the Beibei vocational-education reform plan."""


@cli.group()
def intents() -> None:
    """Check and list the curated intents."""


@intents.command("check")
def intents_check() -> None:
    """Validate every intents and content file; warn about stale answers, ambiguous examples and test leaks."""
    from bot.config import ROOT
    from bot.core.checks import check

    engine = load_engine()
    report = check(engine, data_dir=ROOT / "tests" / "data")
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    routes = engine.routes
    paths = sum(1 for flow in routes.flows for _ in routes.paths(flow))
    click.echo(f"ok: {report.intents} intents, {report.examples} example questions, "
               f"{len(engine.content.clauses)} clauses, {len(routes.flows)} route flows ({paths} paths, each "
               f"reaching a result), {len(report.warnings)} warnings")


@intents.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array, one object per intent.")
def intents_list(as_json: bool) -> None:
    """List the intents with their example counts, sources and follow-ups."""
    engine = load_engine()
    rows = [{"id": i.id, "audience": i.audience, "examples_zh": len(i.all_examples("zh")),
             "examples_en": len(i.all_examples("en")), "source": list(i.source), "related": list(i.related)}
            for i in engine.intents.values()]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    for row in rows:
        click.echo(f"{row['id']:32} {row['audience']:10} zh={row['examples_zh']:<3} en={row['examples_en']:<3} "
                   f"{' '.join(row['source'])}")


@cli.command()
@click.argument("question", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per question.")
@click.option("--log", is_flag=True, help="Also write the enquiry to the log (channel 'terminal').")
def ask(question: str | None, as_json: bool, log: bool) -> None:
    """Answer QUESTION; with --json and no QUESTION, answer one question per line of standard input."""
    from bot.core.render_text import render_reply

    settings = settings_or_exit()
    engine = load_engine(settings)
    logger = _terminal_logger(settings, engine) if log else None
    try:
        if question is None and as_json:
            # click.get_text_stream is deprecated in Click 8.5; decode standard input's bytes ourselves.
            stream = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
            for line in stream:
                text = line.rstrip("\r\n")
                reply = engine.ask(text)
                if logger:
                    logger(reply, text_length=len(text))
                click.echo(json.dumps(reply.as_json(), ensure_ascii=False))
                sys.stdout.flush()
            return
        if question is None:
            raise click.UsageError("Give a question, or use --json to read questions from standard input.")
        reply = engine.ask(question)
        if logger:
            logger(reply, text_length=len(question))
        click.echo(json.dumps(reply.as_json(), ensure_ascii=False) if as_json else render_reply(engine, reply))
    finally:
        if logger:
            logger.close()


def _terminal_logger(settings: Settings, engine):
    from bot.log.sync import SyncLogger

    try:
        return SyncLogger(settings, channel="terminal")
    except VocbotError as exc:
        raise click.ClickException(str(exc)) from None


@cli.command("eval")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
def eval_command(path: Path, as_json: bool) -> None:
    """Measure the engine on labelled questions (JSON lines: q, intent, also)."""
    from bot.core.evaluate import evaluate, format_summary, read_labelled

    engine = load_engine()
    try:
        rows = read_labelled(path)
    except VocbotError as exc:
        raise click.ClickException(str(exc)) from None
    summary = evaluate(engine, rows)
    click.echo(json.dumps(summary, ensure_ascii=False, indent=2) if as_json else format_summary(summary))


def main() -> int:
    """Console-script entry point."""
    try:
        cli.main(standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@cli.command()
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1, or VOCBOT_HOST).")
@click.option("--port", type=int, default=None, help="Port (default 8080, or VOCBOT_PORT); 0 picks a free port.")
def serve(host: str | None, port: int | None) -> None:
    """Run the web chat, JSON API, staff dashboard and (with a token) the Telegram bot."""
    from bot import serve as server

    settings = settings_or_exit()
    try:
        server.main(settings, host or settings.host, settings.port if port is None else port)
    except VocbotError as exc:
        raise click.ClickException(str(exc)) from None


@cli.command()
@click.option("--no-log", is_flag=True, help="Do not write this conversation to the enquiry log (for trying things).")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True,
              help="Language of the interface until you type a question in the other one.")
def chat(no_log: bool, lang: str) -> None:
    """Chat in the terminal on the same engine; type a number to pick an option, /quit or Ctrl-D to leave."""
    from bot.channels import terminal

    settings = settings_or_exit()
    engine = load_engine(settings)
    logger = None if no_log else _terminal_logger(settings, "chat")
    try:
        terminal.run(engine, logger, lang)
    finally:
        if logger is not None:
            logger.close()


def _terminal_logger(settings: Settings, verb: str) -> SyncLogger:
    """The terminal's log writer, or exit with the problem and how to go on without the log."""
    from bot.channels import terminal
    from bot.log.sync import SyncLogger

    try:
        return SyncLogger(settings, channel="terminal", user=terminal.local_user())
    except VocbotError as exc:
        raise click.ClickException(f"{exc} (Use --no-log to {verb} without the log.)") from None


@cli.command()
@click.option("--flow", default="", help="Start in this flow (e.g. student, enterprise) instead of the choice.")
@click.option("--no-log", is_flag=True, help="Do not write the result to the enquiry log.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="Language.")
def route(flow: str, no_log: bool, lang: str) -> None:
    """The route finder in the terminal: numbered choices, 0 goes back, then the routes that apply to you."""
    from bot.channels import terminal

    settings = settings_or_exit()
    engine = load_engine(settings)
    if flow and flow not in engine.routes.flows:
        raise click.BadParameter(f"there is no flow {flow!r}; choose one of {', '.join(engine.routes.flows)}.",
                                 param_hint="--flow")
    logger = None if no_log else _terminal_logger(settings, "run")
    try:
        terminal.run(engine, logger, lang, route=flow)
    finally:
        if logger is not None:
            logger.close()


cli.add_command(logs)
cli.add_command(wechat)
cli.add_command(staff)
