"""The `carebot` command: run, sandbox, db upgrade."""

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from telegram import Update

from bot.config import Settings, load_settings
from bot.errors import SetupError
from bot.logs import configure_logging
from bot.store_config import load_store_config

logger = logging.getLogger("bot")


def run(args: argparse.Namespace) -> int:
    """Serve customers and advisors, with the scheduler, until SIGINT or SIGTERM."""
    from bot.app import build_application
    from bot.startup import preflight

    settings = _settings()
    store = load_store_config(settings.carebot_store_file)
    settings.token  # noqa: B018 - a missing token is reported before anything starts
    checked = asyncio.run(preflight(settings))
    logger.info(
        "connected to the Bot API as @%s; database schema is up to date", checked.bot_username
    )
    for problem in checked.problems:
        logger.warning("%s", problem)
    application = build_application(settings, store)
    if settings.uses_webhook:
        assert settings.webhook_url is not None and settings.webhook_secret is not None
        logger.info("serving webhook on %s:%s", settings.webhook_listen, settings.webhook_port)
        application.run_webhook(
            listen=settings.webhook_listen,
            port=settings.webhook_port,
            url_path=urlsplit(settings.webhook_url).path.lstrip("/"),
            webhook_url=settings.webhook_url,
            secret_token=settings.webhook_secret.get_secret_value(),
            allowed_updates=Update.ALL_TYPES,
        )
    else:
        logger.info("polling %s", settings.telegram_api_base_url)
        application.run_polling(allowed_updates=Update.ALL_TYPES)
    logger.info("stopped")
    return 0


def db_upgrade(args: argparse.Namespace) -> int:
    """Bring the database schema up to date and exit."""
    from bot.startup import prepare_database

    settings = _settings()
    asyncio.run(prepare_database(settings))
    logger.info("database schema is up to date")
    return 0


def sandbox(args: argparse.Namespace) -> int:
    """Run the local Bot API sandbox over HTTP until interrupted."""
    from bot.sandbox import run_standalone

    configure_logging("INFO", [args.token or ""])
    spec = Path(args.spec) if args.spec else None
    if spec is not None and not spec.exists():
        raise SetupError("--spec", f"no such file: {spec}")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_standalone(args.host, args.port, spec, args.token))
    return 0


def _settings() -> Settings:
    settings = load_settings()
    secrets = [
        settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else ""
    ]
    if settings.webhook_secret is not None:
        secrets.append(settings.webhook_secret.get_secret_value())
    configure_logging(settings.carebot_log_level, secrets)
    return settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="carebot", description="Customer care on Telegram for car dealerships."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=func.__doc__, description=func.__doc__)
        sub.set_defaults(func=func)
        return sub

    command("run", run)
    db = commands.add_parser("db", help="database maintenance").add_subparsers(
        dest="db_command", required=True, metavar="ACTION"
    )
    upgrade = db.add_parser("upgrade", help=db_upgrade.__doc__)
    upgrade.set_defaults(func=db_upgrade)
    box = command("sandbox", sandbox)
    box.add_argument("--host", default="127.0.0.1")
    box.add_argument("--port", type=int, default=8081)
    box.add_argument("--token", help="accept only this bot token (default: any well-formed one)")
    box.add_argument("--spec", help="Bot API spec (api.json) to check every request against")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except SetupError as exc:
        print(f"carebot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
