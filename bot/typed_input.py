"""Values people type into the chat: dates and odometer figures, in the ways they write them.

Dates: 2026-12-03, 2026/12/3, 2026.12.3, 2026年12月3日, or without the year (12/3, 12月3日:
this year, or next year when that day is more than a month gone). Km: 45210, 45,210, 45 210 km,
4.5萬 is not guessed at. Full-width digits are folded first.
"""

import datetime as dt
import re
import unicodedata

_FULL_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
_SHORT_DATE = re.compile(r"^(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
_KM = re.compile(r"^(\d{1,3}(?:[,\s]\d{3})+|\d+)\s*(?:km|公里|千米)?$", re.IGNORECASE)
MAX_KM = 2_000_000


def parse_date(text: str, today: dt.date) -> dt.date | None:
    """The date a person typed, or None when it is not one."""
    value = unicodedata.normalize("NFKC", text).strip()
    full = _FULL_DATE.match(value)
    if full:
        year, month, day = (int(part) for part in full.groups())
        return _date(year, month, day)
    short = _SHORT_DATE.match(value)
    if short:
        month, day = (int(part) for part in short.groups())
        date = _date(today.year, month, day)
        if date is not None and date < today - dt.timedelta(days=31):
            date = _date(today.year + 1, month, day)
        return date
    return None


def _date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def parse_km(text: str) -> int | None:
    """An odometer figure in km, or None when the text is not a plausible one."""
    value = unicodedata.normalize("NFKC", text).strip()
    match = _KM.match(value)
    if not match:
        return None
    km = int(re.sub(r"[,\s]", "", match.group(1)))
    return km if km <= MAX_KM else None
