"""Event fields as people type them, in the advisor chat or in an import file.

Times are the store's local wall-clock time: `2026-12-05 14:00`, `2026/12/5 14:00`, `12/5 14:00`
(this year, or next when that day is gone), `2026-12-05T14:00`; an end may be a time alone
(`17:30`, on the start's day), a deadline a date alone (the end of that day). Full-width digits
are folded first. ISO times with an offset (`2026-12-05T06:00:00+00:00`) are taken as they are.
"""

import datetime as dt
import re
import unicodedata

from bot.typed_input import parse_date

_TIME = re.compile(r"^(\d{1,2})[:：](\d{2})$")
_SPLIT = re.compile(r"^(.+?)[\sT]+(\d{1,2}[:：]\d{2})(?::\d{2})?$")


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def parse_clock(text: str) -> dt.time | None:
    match = _TIME.match(_fold(text))
    if not match:
        return None
    hour, minute = int(match.group(1)), int(match.group(2))
    return dt.time(hour, minute) if hour < 24 and minute < 60 else None


def parse_moment(text: str, today: dt.date, tz: dt.tzinfo) -> dt.datetime | None:
    """A date and time of day in the store's zone, or None when the text is not one."""
    value = _fold(text)
    try:
        exact = dt.datetime.fromisoformat(value)
    except ValueError:
        exact = None
    if exact is not None and exact.tzinfo is not None:
        return exact
    match = _SPLIT.match(value)
    if not match:
        return None
    day, clock = parse_date(match.group(1), today), parse_clock(match.group(2))
    if day is None or clock is None:
        return None
    return dt.datetime.combine(day, clock, tz)


def parse_end(text: str, starts: dt.datetime, today: dt.date, tz: dt.tzinfo) -> dt.datetime | None:
    """An end time: a time alone is on the start's day."""
    clock = parse_clock(text)
    if clock is not None:
        return dt.datetime.combine(starts.astimezone(tz).date(), clock, tz)
    return parse_moment(text, today, tz)


def parse_deadline(text: str, today: dt.date, tz: dt.tzinfo) -> dt.datetime | None:
    """A sign-up deadline: a date alone means the end of that day."""
    moment = parse_moment(text, today, tz)
    if moment is not None:
        return moment
    day = parse_date(_fold(text), today)
    if day is None:
        return None
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tz)


def parse_count(text: str, most: int) -> int | None:
    value = _fold(text).replace(",", "")
    if not value.isdigit():
        return None
    number = int(value)
    return number if number <= most else None


def parse_names(text: str) -> list[str]:
    """Brands or models separated by commas (any comma a keyboard makes) or semicolons."""
    return [part.strip() for part in re.split(r"[,;、，；]", _fold(text)) if part.strip()]


def parse_point(text: str) -> tuple[float, float] | None:
    """A map point typed as `25.08, 121.57` (latitude, longitude)."""
    parts = re.split(r"[,\s]+", _fold(text))
    if len(parts) != 2:
        return None
    try:
        latitude, longitude = float(parts[0]), float(parts[1])
    except ValueError:
        return None
    if -90 <= latitude <= 90 and -180 <= longitude <= 180:
        return latitude, longitude
    return None
