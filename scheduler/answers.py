"""What the care buttons, /stop and /subscribe do: plain functions over a session.

A handler reads the button (`parse_care_button`; the data are listed in scheduler/messages.py),
calls one of these inside its transaction, and answers from a template. Nothing here talks to
Telegram or commits.
"""

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.booking import OPEN, cancel_appointment, customer_appointment
from bot.callbacks import unpack
from bot.customers import set_marketing_consent
from bot.models import (
    Appointment,
    AppointmentStatus,
    Confirmation,
    Customer,
    Outbox,
    OutboxStatus,
    SurveyResponse,
)
from bot.store_config import StoreConfig
from scheduler.messages import AREA

# A score at or below this alerts the customer's advisor topic (DOMAIN.md: a low score).
LOW_SCORE = 3
ACTIONS = ("confirm", "reschedule", "cancel", "score", "comment", "unsub")


@dataclass(frozen=True)
class CareButton:
    """A pressed care button: what it asks for and about which appointment or survey."""

    action: str
    target: int | None = None
    score: int | None = None


def parse_care_button(data: str | None) -> CareButton | None:
    """The care button behind callback data, or None when it is not a (well-formed) one."""
    button = unpack(data)
    if button is None or button.area != AREA or button.action not in ACTIONS:
        return None
    if button.action == "unsub":
        return CareButton("unsub")
    target = button.int_arg(0)
    if target is None:
        return None
    if button.action == "score":
        score = button.int_arg(1)
        if score is None or not 1 <= score <= 5:
            return None
        return CareButton("score", target, score)
    return CareButton(button.action, target)


# --- appointment reminders ----------------------------------------------------------------------


async def confirm_from_reminder(
    session: AsyncSession, *, customer_id: int, appointment_id: int
) -> Appointment | None:
    """The owner will come: the day-before confirmation is done. None when no longer open."""
    appointment = await customer_appointment(session, customer_id, appointment_id)
    if appointment is None or appointment.status not in OPEN:
        return None
    appointment.confirmation = Confirmation.CONFIRMED
    appointment.status = AppointmentStatus.CONFIRMED
    await session.flush()
    return appointment


async def reschedule_from_reminder(
    session: AsyncSession, *, customer_id: int, appointment_id: int
) -> Appointment | None:
    """The owner wants another time: recorded; the booking flow then moves the slot."""
    appointment = await customer_appointment(session, customer_id, appointment_id)
    if appointment is None or appointment.status not in OPEN:
        return None
    appointment.confirmation = Confirmation.RESCHEDULED
    await session.flush()
    return appointment


async def cancel_from_reminder(
    session: AsyncSession,
    *,
    customer_id: int,
    appointment_id: int,
    store: StoreConfig,
    now: dt.datetime,
) -> Appointment | None:
    """Cancel as the owner asked (BookingRefused inside the change cut-off); frees the place."""
    appointment = await customer_appointment(session, customer_id, appointment_id)
    if appointment is None:
        return None
    return await cancel_appointment(session, appointment, store=store, now=now, reason=None)


# --- the satisfaction survey --------------------------------------------------------------------


@dataclass(frozen=True)
class SurveyScore:
    survey: SurveyResponse

    @property
    def low(self) -> bool:
        """Whether the advisors should hear about it."""
        return self.survey.score is not None and self.survey.score <= LOW_SCORE


async def record_survey_score(
    session: AsyncSession, *, customer_id: int, survey_id: int, score: int, now: dt.datetime
) -> SurveyScore | None:
    """The first score given counts; None for someone else's survey or a second press."""
    if not 1 <= score <= 5:
        return None
    result = await session.execute(
        update(SurveyResponse)
        .where(
            SurveyResponse.id == survey_id,
            SurveyResponse.customer_id == customer_id,
            SurveyResponse.score.is_(None),
        )
        .values(score=score, answered_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    survey = await session.get(SurveyResponse, survey_id, populate_existing=True)
    return SurveyScore(survey) if survey is not None else None


async def record_survey_comment(
    session: AsyncSession, *, customer_id: int, survey_id: int, comment: str
) -> SurveyResponse | None:
    """The owner's comment on a survey they were asked (a later comment replaces it)."""
    survey = await session.scalar(
        select(SurveyResponse).where(
            SurveyResponse.id == survey_id, SurveyResponse.customer_id == customer_id
        )
    )
    if survey is None:
        return None
    survey.comment = comment.strip()[:4000]
    await session.flush()
    return survey


# --- marketing consent --------------------------------------------------------------------------


async def unsubscribe(session: AsyncSession, customer: Customer, now: dt.datetime) -> int:
    """No more marketing (/stop or the Unsubscribe button); booking messages still go.

    Pending marketing rows are cancelled at once, so the outbox shows what will not be sent;
    returns how many.
    """
    await set_marketing_consent(session, customer, consent=False, now=now)
    result = await session.execute(
        update(Outbox)
        .where(
            Outbox.customer_id == customer.id,
            Outbox.status == OutboxStatus.PENDING,
            Outbox.marketing.is_(True),
        )
        .values(status=OutboxStatus.CANCELLED, error="no marketing consent")
        .execution_options(synchronize_session=False)
    )
    return max(result.rowcount or 0, 0)  # type: ignore[attr-defined]


async def subscribe(session: AsyncSession, customer: Customer, now: dt.datetime) -> None:
    """Marketing messages again (/subscribe), from the next planning run on."""
    await set_marketing_consent(session, customer, consent=True, now=now)
