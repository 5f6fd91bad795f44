"""What `carebot care plan|send|status|campaign` and `carebot templates check` do."""

import asyncio
import datetime as dt
import json
import sys

from sqlalchemy import func, select
from telegram import Bot
from telegram.request import HTTPXRequest

from bot.config import Settings
from bot.db import transaction
from bot.errors import SetupError
from bot.locales import Locale
from bot.models import Outbox, OutboxStatus
from bot.render import Renderer
from bot.startup import open_store
from bot.store_config import StoreConfig
from bot.template_check import check_templates
from scheduler.audience import Audience
from scheduler.campaigns import campaign_templates, plan_campaign, start_campaign
from scheduler.delivery import Deliverer
from scheduler.messages import Signature
from scheduler.plan_day import PlanDay
from scheduler.planner import plan_care

FORMATS = ("table", "json")


def parse_format(value: str) -> str:
    if value.lower() not in FORMATS:
        raise SetupError("--format", f"unknown format {value!r}; use {', '.join(FORMATS)}")
    return value.lower()


def planning_moment(value: str | None, settings: Settings) -> dt.datetime:
    """The day to plan, at the current local time of day (reminders look ahead from it)."""
    now = dt.datetime.now(settings.timezone)
    if value is None:
        return now
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise SetupError("--as-of", f"{value!r} is not a date (use YYYY-MM-DD)") from None
    return dt.datetime.combine(day, now.timetz())


def _table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = [header, *rows]
    return "\n".join(
        "  ".join(
            str(cell).ljust(width) if i == 0 else str(cell).rjust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    )


# --- plan ---------------------------------------------------------------------------------------


def run_plan(
    settings: Settings, config: StoreConfig, *, as_of: dt.datetime, dry_run: bool, format: str
) -> int:
    """Insert (or with dry_run, count) what is due; print counts per kind."""

    async def plan() -> dict[str, int]:
        async with open_store(settings, config) as opened:
            day = PlanDay(opened.store_id, config, settings.timezone, as_of)
            async with transaction(opened.sessions) as session:
                return (await plan_care(session, day, dry_run=dry_run)).counts

    counts = asyncio.run(plan())
    total = sum(counts.values())
    if format == "json":
        print(
            json.dumps(
                {
                    "as_of": as_of.date().isoformat(),
                    "dry_run": dry_run,
                    "counts": counts,
                    "total": total,
                },
                indent=2,
            )
        )
        return 0
    title = f"care plan for {as_of.date().isoformat()}"
    print(f"{title} (dry run: nothing written)" if dry_run else title)
    rows = [(kind, f"{count:,}") for kind, count in counts.items()]
    print(_table([*rows, ("total", f"{total:,}")], ("kind", "rows")))
    return 0


# --- send ---------------------------------------------------------------------------------------


def run_send(settings: Settings, config: StoreConfig) -> int:
    """Drain the outbox once: send what is due now within Telegram's limits."""

    async def send() -> dict[str, int]:
        async with open_store(settings, config) as opened:
            # Sends overlap while Telegram answers: the pool must hold a batch's worth.
            pool = config.care.delivery.batch_size * 2
            request = HTTPXRequest(connection_pool_size=pool, read_timeout=20, pool_timeout=20)
            bot = Bot(settings.token, base_url=settings.telegram_api_base_url, request=request)
            deliverer = Deliverer(
                opened.sessions,
                bot,
                Renderer(settings.carebot_template_dir),
                store_id=opened.store_id,
                store=config,
                tz=settings.timezone,
                default_locale=settings.carebot_default_locale,
            )
            try:
                report = await deliverer.drain()
            finally:
                await bot.shutdown()
            return dict(report.outcomes)

    outcomes = asyncio.run(send())
    print(
        ", ".join(f"{name} {count:,}" for name, count in sorted(outcomes.items())) or "nothing due"
    )
    return 0


# --- status -------------------------------------------------------------------------------------


def run_status(settings: Settings, config: StoreConfig, *, format: str) -> int:
    """Count the outbox by kind and status."""

    async def status() -> list[tuple[str, str, int]]:
        async with open_store(settings, config) as opened, opened.sessions() as session:
            rows = await session.execute(
                select(Outbox.kind, Outbox.status, func.count())
                .where(Outbox.store_id == opened.store_id)
                .group_by(Outbox.kind, Outbox.status)
                .order_by(Outbox.kind)
            )
            return [(kind, str(state), int(count)) for kind, state, count in rows]

    found = asyncio.run(status())
    statuses = [status.value for status in OutboxStatus]
    by_kind: dict[str, dict[str, int]] = {}
    for kind, state, count in found:
        by_kind.setdefault(kind, dict.fromkeys(statuses, 0))[state] = count
    if format == "json":
        print(json.dumps(by_kind, indent=2))
        return 0
    totals = {state: sum(counts[state] for counts in by_kind.values()) for state in statuses}
    rows = [(kind, *(f"{counts[s]:,}" for s in statuses)) for kind, counts in by_kind.items()]
    rows.append(("total", *(f"{totals[s]:,}" for s in statuses)))
    print(_table(rows, ("kind", *statuses)))
    return 0


# --- campaign -----------------------------------------------------------------------------------


def run_campaign(
    settings: Settings,
    config: StoreConfig,
    *,
    audience: Audience,
    template: str,
    name: str | None,
    locale: Locale,
    yes: bool,
) -> int:
    """Count and preview, ask, then queue one message per recipient."""
    renderer = Renderer(settings.carebot_template_dir)
    if template not in campaign_templates(renderer):
        known = ", ".join(campaign_templates(renderer)) or "none"
        raise SetupError("--template", f"no campaign template {template!r} (have: {known})")

    async def campaign() -> int:
        async with open_store(settings, config) as opened:
            now = dt.datetime.now(dt.UTC)
            async with opened.sessions() as session:
                plan = await plan_campaign(
                    session,
                    store_id=opened.store_id,
                    store=config,
                    renderer=renderer,
                    signature=Signature(config, settings.timezone, "your_bot"),
                    audience=audience,
                    template=template,
                    locale=locale,
                    as_of=now.astimezone(settings.timezone).date(),
                )
            print(f"audience: {audience.describe()}")
            print(f"recipients (on Telegram, taking marketing): {plan.recipients:,}")
            if plan.preview is not None:
                print(f"--- preview ({locale}) ---\n{plan.preview.text}\n---")
            if plan.recipients == 0:
                return 0
            if not yes and not _confirmed(plan.recipients):
                print("not sent")
                return 0
            async with transaction(opened.sessions) as session:
                row = await start_campaign(
                    session,
                    store_id=opened.store_id,
                    store=config,
                    tz=settings.timezone,
                    name=name or f"{template} {now:%Y-%m-%d}",
                    audience=audience,
                    template=template,
                    created_by=None,
                    now=now,
                )
            print(f"campaign {row.id}: {row.recipients:,} messages queued")
            return 0

    return asyncio.run(campaign())


def _confirmed(recipients: int) -> bool:
    if not sys.stdin.isatty():
        raise SetupError("--yes", "not asking on a non-interactive input; add --yes to send")
    answer = input(f"send to {recipients:,} customers? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


# --- templates ----------------------------------------------------------------------------------


def run_templates_check(settings: Settings) -> int:
    """Print every finding; 1 when any of them would break a message."""
    findings = check_templates(Renderer(settings.carebot_template_dir))
    for finding in findings:
        if finding.serious or settings.carebot_log_level == "DEBUG":
            print(finding)
    errors = sum(finding.serious for finding in findings)
    notes = len(findings) - errors
    print(f"{errors} errors, {notes} notes" + ("" if errors else ": every template is fine"))
    return 1 if errors else 0
