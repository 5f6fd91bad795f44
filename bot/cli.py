"""The `carebot` command: run, sandbox, db upgrade, import, report."""

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


def import_data(args: argparse.Namespace) -> int:
    """Import customers with their vehicles, or repair orders, from a DMS export (CSV or XLSX)."""
    from bot.cli_data import run_import

    settings = _settings()
    store = load_store_config(settings.carebot_store_file)
    return run_import(settings, store, args.kind, Path(args.file), dry_run=args.dry_run)


def report(args: argparse.Namespace) -> int:
    """Print segments and KPIs as of a day (table, csv, json) or write them to a file (xlsx too)."""
    from bot.cli_data import parse_as_of, parse_format, run_report
    from bot.locales import parse_locale

    settings = _settings()
    store = load_store_config(settings.carebot_store_file)
    try:
        locale = parse_locale(args.locale) if args.locale else settings.carebot_default_locale
    except ValueError as exc:
        raise SetupError("--locale", str(exc)) from None
    return run_report(
        settings,
        store,
        as_of=parse_as_of(args.as_of, settings),
        format=parse_format(args.format),
        output=Path(args.output) if args.output else None,
        locale=locale,
    )


def events_import(args: argparse.Namespace) -> int:
    """Create or change club events from a YAML or CSV file; one bad row and nothing is written."""
    from bot.event_import import run_event_import

    settings = _settings()
    store = load_store_config(settings.carebot_store_file)
    return run_event_import(settings, store, Path(args.file), dry_run=args.dry_run)


def care_plan(args: argparse.Namespace) -> int:
    """Plan the care messages due on a day (insert them, or count them with --dry-run)."""
    from bot.cli_care import parse_format, planning_moment, run_plan

    settings = _settings()
    store = load_store_config(settings.carebot_store_file)
    return run_plan(
        settings,
        store,
        as_of=planning_moment(args.as_of, settings),
        dry_run=args.dry_run,
        format=parse_format(args.format),
    )


def care_send(args: argparse.Namespace) -> int:
    """Drain the outbox once: send what is due now, within Telegram's limits."""
    from bot.cli_care import run_send

    settings = _settings()
    return run_send(settings, load_store_config(settings.carebot_store_file))


def care_status(args: argparse.Namespace) -> int:
    """Count the care outbox by kind and status."""
    from bot.cli_care import parse_format, run_status

    settings = _settings()
    store = load_store_config(settings.carebot_store_file)
    return run_status(settings, store, format=parse_format(args.format))


def care_campaign(args: argparse.Namespace) -> int:
    """Send a campaign template to a segment: shows the count and a preview, then asks."""
    from pydantic import ValidationError

    from bot.cli_care import run_campaign
    from bot.locales import parse_locale
    from scheduler.audience import Audience

    settings = _settings()
    store = load_store_config(settings.carebot_store_file)
    try:
        audience = Audience(
            segment=args.segment,
            brands=args.brand or [],
            models=args.model or [],
            fleet_tags=args.fleet_tag or [],
        )
    except ValidationError as exc:
        raise SetupError("campaign", str(exc.errors()[0]["msg"])) from None
    try:
        locale = parse_locale(args.locale) if args.locale else settings.carebot_default_locale
    except ValueError as exc:
        raise SetupError("--locale", str(exc)) from None
    return run_campaign(
        settings,
        store,
        audience=audience,
        template=args.template,
        name=args.name,
        locale=locale,
        yes=args.yes,
    )


def templates_check(args: argparse.Namespace) -> int:
    """Render every template in every locale with sample data; report what Telegram would refuse."""
    from bot.cli_care import run_templates_check

    return run_templates_check(_settings())


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
    imports = commands.add_parser("import", help=import_data.__doc__).add_subparsers(
        dest="kind", required=True, metavar="WHAT"
    )
    for kind, what in (("customers", "owners and their vehicles"), ("visits", "repair orders")):
        sub = imports.add_parser(
            kind, help=f"{what}, one row each", description=import_data.__doc__
        )
        sub.add_argument("file", metavar="FILE")
        sub.add_argument("--dry-run", action="store_true", help="check and count, write nothing")
        sub.set_defaults(func=import_data)
    events = commands.add_parser("events", help="car-club events").add_subparsers(
        dest="events_command", required=True, metavar="ACTION"
    )
    events_file = events.add_parser(
        "import", help=events_import.__doc__, description=events_import.__doc__
    )
    events_file.add_argument("file", metavar="FILE")
    events_file.add_argument("--dry-run", action="store_true", help="check only, write nothing")
    events_file.set_defaults(func=events_import)
    numbers = command("report", report)
    numbers.add_argument("--as-of", help="YYYY-MM-DD, included (default: today)")
    numbers.add_argument("--format", default="table", help="table, csv, json or xlsx")
    numbers.add_argument("--output", help="write to this file instead of printing")
    numbers.add_argument("--locale", help="zh-Hant, zh-Hans or en for table and xlsx headings")
    care = commands.add_parser("care", help="care messages: plan, send, status, campaign")
    care_actions = care.add_subparsers(dest="care_command", required=True, metavar="ACTION")

    def care_action(
        name: str, func: Callable[[argparse.Namespace], int]
    ) -> argparse.ArgumentParser:
        sub = care_actions.add_parser(name, help=func.__doc__, description=func.__doc__)
        sub.set_defaults(func=func)
        return sub

    planning = care_action("plan", care_plan)
    planning.add_argument("--as-of", help="YYYY-MM-DD, at the current time of day (default: now)")
    planning.add_argument("--dry-run", action="store_true", help="count only, write nothing")
    planning.add_argument("--format", default="table", help="table or json")
    care_action("send", care_send)
    care_action("status", care_status).add_argument(
        "--format", default="table", help="table or json"
    )
    offer = care_action("campaign", care_campaign)
    offer.add_argument("--segment", default="all", help="all, archived, active, loyal or lost")
    offer.add_argument("--template", required=True, help="a campaign_<name> template")
    offer.add_argument("--brand", action="append", help="only owners of this brand (repeatable)")
    offer.add_argument("--model", action="append", help="only owners of this model (repeatable)")
    offer.add_argument("--fleet-tag", action="append", help="government, enterprise, taxi, ...")
    offer.add_argument("--name", help="the campaign's name in reports")
    offer.add_argument("--locale", help="the preview's language (default: the store's)")
    offer.add_argument("--yes", action="store_true", help="send without asking")
    templates = commands.add_parser("templates", help="message templates").add_subparsers(
        dest="templates_command", required=True, metavar="ACTION"
    )
    checking = templates.add_parser(
        "check", help=templates_check.__doc__, description=templates_check.__doc__
    )
    checking.set_defaults(func=templates_check)
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
