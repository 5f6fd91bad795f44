"""The store file: opening hours, service types and capacities, service intervals, messaging hours.

It is YAML or TOML, validated at start; a problem is reported as one line naming the key.
"""

import datetime as dt
import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.errors import SetupError
from bot.locales import LOCALES, Locale
from bot.paths import EXAMPLE_STORE_FILE

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Localized(_Strict):
    """A text the store writes itself, in every language Carebot speaks."""

    zh_Hant: str = Field(alias="zh-Hant", min_length=1)
    zh_Hans: str = Field(alias="zh-Hans", min_length=1)
    en: str = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _one_text_for_all(cls, value: object) -> object:
        # A plain string is the same text in every locale (brand names, for instance).
        if isinstance(value, str):
            return dict.fromkeys(LOCALES, value)
        return value

    def get(self, locale: Locale) -> str:
        return {"zh-Hant": self.zh_Hant, "zh-Hans": self.zh_Hans, "en": self.en}[locale]


class TimeSpan(_Strict):
    """An opening span within one day, e.g. 08:30-17:30."""

    start: dt.time
    end: dt.time

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: object) -> object:
        if isinstance(value, str):
            match = _SPAN.match(value.strip())
            if not match:
                raise ValueError(f"expected HH:MM-HH:MM, got {value!r}")
            h1, m1, h2, m2 = (int(part) for part in match.groups())
            try:
                return {"start": dt.time(h1, m1), "end": dt.time(h2, m2)}
            except ValueError:
                raise ValueError(f"{value!r} is not a time of day") from None
        return value

    @model_validator(mode="after")
    def _ordered(self) -> "TimeSpan":
        if self.end <= self.start:
            raise ValueError(
                f"closing time {self.end:%H:%M} is not after opening {self.start:%H:%M}"
            )
        return self


class StoreIdentity(_Strict):
    code: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")
    name: Localized
    address: Localized | None = None
    phone: str | None = None
    market: Literal["taiwan", "mainland"] = "taiwan"


class Booking(_Strict):
    slot_minutes: int = Field(default=30, ge=10, le=240)
    min_notice_hours: float = Field(default=2, ge=0)
    horizon_days: int = Field(default=30, ge=1, le=365)
    change_cutoff_hours: float = Field(default=2, ge=0)


class ServiceType(_Strict):
    name: Localized
    capacity: int = Field(ge=1, le=1000, description="bookings a slot takes for this type")


class Interval(_Strict):
    km: int = Field(gt=0, le=100_000)
    months: int = Field(gt=0, le=60)


class ServiceIntervals(_Strict):
    default: Interval = Interval(km=5000, months=6)
    first_service: Interval = Interval(km=5000, months=6)
    brands: dict[str, Interval] = {}
    models: dict[str, Interval] = {}

    def for_vehicle(self, brand: str | None, model: str | None) -> Interval:
        """The most specific interval: model, then brand, then the store default."""
        if model and model in self.models:
            return self.models[model]
        if brand and brand in self.brands:
            return self.brands[brand]
        return self.default


class Messaging(_Strict):
    hours: TimeSpan = TimeSpan(start=dt.time(9), end=dt.time(20))
    marketing_per_week: int = Field(default=2, ge=0, le=50)
    # Marketing waits for a day the store is open, when someone can answer the replies.
    on_closed_days: bool = False


class ReportRules(_Strict):
    """The dealer's own segment and KPI parameters (DOMAIN.md: configurable, these defaults)."""

    lost_factor: float = Field(default=1.5, gt=0, le=10)
    loyal_visits: int = Field(default=2, ge=1, le=50)
    retention_min_visits: int = Field(default=1, ge=1, le=50)


Offsets = list[int]


def _clock(value: object) -> object:
    # YAML 1.1 reads an unquoted 18:00 as 1080 (base 60); take it as minutes after midnight.
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return dt.time(value // 60, value % 60)
    return value


ClockTime = Annotated[dt.time, BeforeValidator(_clock)]


class LeadTimes(_Strict):
    """Days before (negative) or after a due date to remind, per brand or model when they differ."""

    days: Offsets
    brands: dict[str, Offsets] = {}
    models: dict[str, Offsets] = {}
    # Whether the message needs marketing consent; the customer did not ask for these.
    marketing: bool = True

    @field_validator("days", "brands", "models")
    @classmethod
    def _sensible_offsets(cls, value: object) -> object:
        lists = value.values() if isinstance(value, dict) else [value]
        for offsets in lists:
            if not offsets or len(set(offsets)) != len(offsets):
                raise ValueError("give at least one offset, each once")
            if any(abs(day) > 180 for day in offsets):
                raise ValueError("offsets are days from the due date, within 180")
        return value


class Inspection(LeadTimes):
    days: Offsets = [-30, -7]
    # Some sources still ask for an inspection every 6 months after year 15 (mainland).
    mainland_half_yearly_after_years: int | None = Field(default=None, ge=10, le=30)


class NewCarFollowUp(_Strict):
    """Days after delivery (the registration date) for each follow-up step."""

    steps: dict[Literal["thanks", "checkin", "first_service"], int] = {
        "thanks": 1,
        "checkin": 30,
        "first_service": 150,
    }
    brands: dict[str, dict[Literal["thanks", "checkin", "first_service"], int]] = {}
    models: dict[str, dict[Literal["thanks", "checkin", "first_service"], int]] = {}
    marketing: bool = True


class AppointmentReminders(_Strict):
    day_before_at: ClockTime = dt.time(18)
    hours_before: float = Field(default=2, gt=0, le=24)


class Survey(_Strict):
    days_after: int = Field(default=3, ge=0, le=30)


class WinBack(_Strict):
    """Lost vehicles (the reports' lost_factor decides who is lost), at most once per period."""

    every_days: int = Field(default=180, ge=7, le=730, description="at most once per period")
    stop_after_months: int = Field(default=24, ge=1, le=120)


class EventMessages(_Strict):
    invitations: bool = True
    day_before_at: ClockTime = dt.time(18)
    hours_before: float = Field(default=3, gt=0, le=48)


class Delivery(_Strict):
    messages_per_second: float = Field(default=29, gt=0, le=30)
    per_chat_seconds: float = Field(default=1.0, ge=0)
    batch_size: int = Field(default=20, ge=1, le=500)
    lease_seconds: int = Field(default=120, ge=10, le=3600)
    max_attempts: int = Field(default=5, ge=1, le=20)
    backoff_seconds: int = Field(default=30, ge=1, le=3600)


class CareSchedule(_Strict):
    """When `carebot run` plans and sends care messages."""

    plan_at: ClockTime = dt.time(7)
    plan_every_minutes: int = Field(default=60, ge=5, le=24 * 60)
    send_every_seconds: float = Field(default=15, ge=1, le=3600)


class Care(_Strict):
    """The care scheduler: lead times, follow-up steps, reminder hours and delivery pace."""

    send_at: ClockTime = dt.time(10)
    catch_up_days: int = Field(default=7, ge=1, le=60)
    lookahead_hours: int = Field(default=36, ge=1, le=168)
    maintenance: LeadTimes = LeadTimes(days=[-14, 0, 14])
    first_service: LeadTimes = LeadTimes(days=[-14, 0, 14])
    insurance: LeadTimes = LeadTimes(days=[-30, -7])
    inspection: Inspection = Inspection()
    new_car: NewCarFollowUp = NewCarFollowUp()
    appointment_reminders: AppointmentReminders = AppointmentReminders()
    survey: Survey = Survey()
    birthday: bool = True
    win_back: WinBack = WinBack()
    events: EventMessages = EventMessages()
    delivery: Delivery = Delivery()
    schedule: CareSchedule = CareSchedule()


class Relay(_Strict):
    """The advisors' relay: automatic answers, signatures and the pace of group posts."""

    # Outside opening hours a customer's message gets the next opening time, at most this often.
    auto_reply: bool = True
    auto_reply_every_hours: float = Field(default=12, gt=0, le=24 * 14)
    sign_with_advisor_name: bool = True
    # Short texts a customer sends within this many seconds are posted as one message.
    merge_seconds: float = Field(default=5, ge=0, le=60)
    merge_max_chars: int = Field(default=500, ge=0, le=3000)
    # A customer's message waits this long for an earlier one that another bot process is
    # still handling, so the two are posted in the customer's order.
    order_hold_seconds: float = Field(default=0.3, ge=0, le=5)
    # Telegram allows about 20 messages a minute in a group, and about one a second in a chat.
    group_posts_per_minute: int = Field(default=20, ge=1, le=60)
    group_post_gap_seconds: float = Field(default=1.0, ge=0, le=10)
    group_burst: int = Field(default=3, ge=1, le=20)
    # A post being sent is leased; a process that dies leaves it to the next after this long.
    lease_seconds: int = Field(default=60, ge=5, le=3600)
    # 5xx answers and time-outs: a post is tried this many times, the pauses doubling up to a
    # minute; then it waits this long at the head of its group's queue and is tried again.
    network_tries: int = Field(default=6, ge=1, le=20)
    retry_later_seconds: int = Field(default=300, ge=5, le=86400)


class StoreConfig(_Strict):
    """Everything about one store that is more than a single value."""

    store: StoreIdentity
    opening_hours: dict[str, list[TimeSpan]]
    closed_dates: list[dt.date] = []
    booking: Booking = Booking()
    service_types: dict[str, ServiceType]
    service_intervals: ServiceIntervals = ServiceIntervals()
    brands: dict[str, list[str]] = {}
    messaging: Messaging = Messaging()
    reports: ReportRules = ReportRules()
    care: Care = Care()
    relay: Relay = Relay()

    @field_validator("opening_hours", mode="before")
    @classmethod
    def _week(cls, value: object) -> object:
        if not isinstance(value, dict):
            raise ValueError("expected a mapping of mon..sun to hours")
        unknown = set(value) - set(WEEKDAYS)
        if unknown:
            raise ValueError(f"unknown day {sorted(unknown)[0]!r}; use {', '.join(WEEKDAYS)}")
        week: dict[str, object] = {}
        for day in WEEKDAYS:
            spans = value.get(day, "closed")
            if spans in ("closed", None, []):
                week[day] = []
            elif isinstance(spans, str):
                week[day] = [part for part in spans.split(",")]
            else:
                week[day] = spans
        return week

    @field_validator("service_types")
    @classmethod
    def _some_service(cls, value: dict[str, ServiceType]) -> dict[str, ServiceType]:
        if not value:
            raise ValueError("list at least one service type")
        for code in value:
            if not re.match(r"^[a-z][a-z0-9_]{0,31}$", code):
                raise ValueError(f"service type code {code!r}: use lowercase letters, digits, _")
        return value

    def hours_on(self, day: dt.date) -> list[TimeSpan]:
        """Opening spans on a date: none on closed dates."""
        if day in self.closed_dates:
            return []
        return self.opening_hours[WEEKDAYS[day.weekday()]]


def _read(path: Path) -> object:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".toml":
        return tomllib.loads(text)
    if path.suffix.lower() in (".yaml", ".yml"):
        return yaml.safe_load(text)
    raise ValueError("use a .yaml, .yml or .toml file")


def load_store_config(path: Path | None) -> StoreConfig:
    """Read and validate the store file; the shipped example when no path is given."""
    path = path or EXAMPLE_STORE_FILE
    subject = f"CAREBOT_STORE_FILE ({path})"
    try:
        data = _read(path)
    except FileNotFoundError:
        raise SetupError(subject, "no such file") from None
    except (yaml.YAMLError, tomllib.TOMLDecodeError, UnicodeDecodeError, ValueError) as exc:
        raise SetupError(subject, " ".join(str(exc).split())) from None
    if not isinstance(data, dict):
        raise SetupError(subject, "expected a mapping at the top level")
    try:
        return StoreConfig.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        raise SetupError(subject, f"{where}: {message}") from None
