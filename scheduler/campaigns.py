"""Manager campaigns: a segment and a template, counted and previewed, then queued.

A campaign goes through the same outbox as every care message, as marketing: the delivery
applies consent, messaging hours and the weekly cap. Its templates are the files named
campaign_<name>.html (in every locale); a dealer adds their own in CAREBOT_TEMPLATE_DIR.
"""

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.locales import LOCALES, Locale
from bot.models import Campaign, Customer
from bot.render import Renderer
from bot.store_config import StoreConfig
from scheduler.audience import Audience, audience_customers
from scheduler.kinds import CAMPAIGN_TEMPLATE_PREFIX
from scheduler.messages import Message, Signature, compose
from scheduler.plan_day import PlanDay, reachable
from scheduler.planner import outbox_insert
from scheduler.rules import campaign


@dataclass(frozen=True)
class CampaignPlan:
    """What a manager confirms: who, how many, and the message as the first of them reads it."""

    audience: Audience
    template: str
    recipients: int
    preview: Message | None


def campaign_templates(renderer: Renderer) -> list[str]:
    """Campaign templates present in every locale (the dealer's folder included)."""
    names: set[str] | None = None
    for locale in LOCALES:
        here = {
            path.stem
            for folder in renderer.search_path
            for path in (folder / locale).glob(f"{CAMPAIGN_TEMPLATE_PREFIX}*.html")
        }
        names = here if names is None else names & here
    return sorted(names or ())


async def plan_campaign(
    session: AsyncSession,
    *,
    store_id: int,
    store: StoreConfig,
    renderer: Renderer,
    signature: Signature,
    audience: Audience,
    template: str,
    locale: Locale,
    as_of: dt.date,
) -> CampaignPlan:
    """Count the recipients (customers who take marketing) and render the first one's message."""
    if template not in campaign_templates(renderer):
        raise ValueError(f"no campaign template {template!r} in every locale")
    chosen = audience_customers(audience, store_id=store_id, store=store, as_of=as_of).subquery()
    eligible = (
        select(Customer)
        .join(chosen, chosen.c.customer_id == Customer.id)
        .where(*reachable(Customer, marketing=True))
    )
    recipients = int(
        await session.scalar(select(func.count()).select_from(eligible.subquery())) or 0
    )
    first = await session.scalar(eligible.order_by(Customer.id).limit(1))
    preview = compose(
        renderer,
        template=template,
        payload={"campaign_id": 0},
        marketing=True,
        locale=locale,
        signature=signature,
        customer_name=first.name if first is not None else None,
    )
    return CampaignPlan(audience, template, recipients, preview)


async def start_campaign(
    session: AsyncSession,
    *,
    store_id: int,
    store: StoreConfig,
    tz: ZoneInfo,
    name: str,
    audience: Audience,
    template: str,
    created_by: int | None,
    now: dt.datetime,
) -> Campaign:
    """Record the confirmed campaign and queue one message per recipient, due now."""
    row = await draft_campaign(
        session,
        store_id=store_id,
        name=name,
        audience=audience,
        template=template,
        created_by=created_by,
    )
    started = await confirm_campaign(
        session, campaign_id=row.id, store_id=store_id, store=store, tz=tz, now=now
    )
    assert started is not None  # a draft made in this transaction cannot be confirmed already
    return started


async def draft_campaign(
    session: AsyncSession,
    *,
    store_id: int,
    name: str,
    audience: Audience,
    template: str,
    created_by: int | None,
) -> Campaign:
    """A campaign a manager has seen but not confirmed yet (confirmed_at stays empty)."""
    row = Campaign(
        store_id=store_id,
        name=name,
        template=template,
        audience=audience.model_dump(mode="json", exclude_defaults=True),
        created_by=created_by,
    )
    session.add(row)
    await session.flush()
    return row


async def confirm_campaign(
    session: AsyncSession,
    *,
    campaign_id: int,
    store_id: int,
    store: StoreConfig,
    tz: ZoneInfo,
    now: dt.datetime,
) -> Campaign | None:
    """Confirm a draft and queue its messages; None when it is confirmed already or gone.

    The conditional update is what makes a second Confirm (or two at once) queue nothing: on
    PostgreSQL the later one waits for the row and then finds confirmed_at set.
    """
    result = await session.execute(
        update(Campaign)
        .where(
            Campaign.id == campaign_id,
            Campaign.store_id == store_id,
            Campaign.confirmed_at.is_(None),
        )
        .values(confirmed_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    row = await session.get_one(Campaign, campaign_id, populate_existing=True)
    audience = Audience.from_json(row.audience)
    day = PlanDay(store_id=store_id, store=store, tz=tz, as_of=now)
    queued = await session.execute(
        outbox_insert(session, campaign(row.id, row.template, audience)(day))
    )
    row.recipients = max(queued.rowcount or 0, 0)  # type: ignore[attr-defined]
    await session.flush()
    return row


async def drop_campaign_draft(session: AsyncSession, *, campaign_id: int, store_id: int) -> bool:
    """Forget a campaign the manager did not confirm; False when it was confirmed (or gone)."""
    result = await session.execute(
        delete(Campaign)
        .where(
            Campaign.id == campaign_id,
            Campaign.store_id == store_id,
            Campaign.confirmed_at.is_(None),
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]
