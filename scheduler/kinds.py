"""Every kind of care message, its template, and what makes a planned one stale."""

MAINTENANCE = "maintenance"
FIRST_SERVICE = "first_service"
INSURANCE = "insurance"
INSPECTION = "inspection"
NEW_CAR_THANKS = "new_car_thanks"
NEW_CAR_CHECKIN = "new_car_checkin"
NEW_CAR_FIRST_SERVICE = "new_car_first_service"
APPOINTMENT_DAY_BEFORE = "appointment_day_before"
APPOINTMENT_SOON = "appointment_soon"
SURVEY = "survey"
BIRTHDAY = "birthday"
WIN_BACK = "win_back"
EVENT_INVITATION = "event_invitation"
EVENT_DAY_BEFORE = "event_day_before"
EVENT_SOON = "event_soon"
# Sent by the bot as events change (bot/event_notices.py), not planned by a rule.
EVENT_CHANGED = "event_changed"
EVENT_CANCELLED = "event_cancelled"
EVENT_PROMOTED = "event_promoted"
CAMPAIGN = "campaign"

KINDS = (
    MAINTENANCE,
    FIRST_SERVICE,
    INSURANCE,
    INSPECTION,
    NEW_CAR_THANKS,
    NEW_CAR_CHECKIN,
    NEW_CAR_FIRST_SERVICE,
    APPOINTMENT_DAY_BEFORE,
    APPOINTMENT_SOON,
    SURVEY,
    BIRTHDAY,
    WIN_BACK,
    EVENT_INVITATION,
    EVENT_DAY_BEFORE,
    EVENT_SOON,
    EVENT_CHANGED,
    EVENT_CANCELLED,
    EVENT_PROMOTED,
    CAMPAIGN,
)

# Invitations to come in: pointless once the vehicle is booked (checked again at delivery).
STOP_WHEN_BOOKED = frozenset({MAINTENANCE, FIRST_SERVICE, NEW_CAR_FIRST_SERVICE, WIN_BACK})
# About one appointment or one event sign-up: dropped when it is cancelled or moved.
ABOUT_APPOINTMENT = frozenset({APPOINTMENT_DAY_BEFORE, APPOINTMENT_SOON})
ABOUT_EVENT = frozenset({EVENT_INVITATION, EVENT_DAY_BEFORE, EVENT_SOON})

# A campaign's template is the manager's pick among these files; every other kind has its own.
CAMPAIGN_TEMPLATE_PREFIX = "campaign_"


def template_of(kind: str) -> str:
    """The template a kind renders (campaigns name theirs)."""
    if kind == CAMPAIGN:
        raise ValueError("a campaign names its own template")
    return f"care_{kind}"
