"""An inline month calendar whose only live days are the ones that can be booked."""

import calendar
import datetime as dt

from telegram import InlineKeyboardButton

from bot.handlers.turns import Turn

# Telegram refuses empty button texts; days that cannot be chosen show this.
BLANK = "·"


def first_of_month(day: dt.date) -> dt.date:
    return day.replace(day=1)


def shift_month(month: dt.date, months: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def month_rows(
    turn: Turn, month: dt.date, open_days: set[dt.date], last_day: dt.date
) -> list[list[InlineKeyboardButton]]:
    """Title, weekday names, the weeks of `month`, and arrows to the neighbouring months.

    Open days send `day:<YYYYMMDD>`, the arrows `month:<YYYYMM>`, everything else `nop`.
    """
    rows = [[turn.button(turn.label("calendar_month", m=month), "nop")]]
    rows.append([turn.button(name, "nop") for name in turn.label("calendar_weekdays").split()])
    for week in calendar.Calendar().monthdatescalendar(month.year, month.month):
        rows.append(
            [
                turn.button(str(day.day), "day", f"{day:%Y%m%d}")
                if day.month == month.month and day in open_days
                else turn.button(BLANK, "nop")
                for day in week
            ]
        )
    arrows = []
    if month > first_of_month(turn.today):
        earlier = shift_month(month, -1)
        arrows.append(turn.button(turn.label("button_earlier_month"), "month", f"{earlier:%Y%m}"))
    if month < first_of_month(last_day):
        later = shift_month(month, 1)
        arrows.append(turn.button(turn.label("button_later_month"), "month", f"{later:%Y%m}"))
    if arrows:
        rows.append(arrows)
    return rows
