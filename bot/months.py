"""Calendar months in Python, clamped the way bot.sql_dates.add_months clamps them in SQL."""

import calendar
import datetime as dt


def shift_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later (or earlier); the month's last day when it has no such day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def month_end(day: dt.date) -> dt.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])
