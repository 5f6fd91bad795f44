"""What owners type and what buttons carry: dates, km, callback data, flow versions."""

import datetime as dt

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.callbacks import MAX_BYTES, ButtonData, pack, unpack
from bot.db import transaction
from bot.flows import end_flow, enter_step, load_flow
from bot.typed_input import parse_date, parse_km

TODAY = dt.date(2026, 12, 20)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("2026-12-03", dt.date(2026, 12, 3)),
        ("2026/1/5", dt.date(2026, 1, 5)),
        ("２０２６年１２月３日", dt.date(2026, 12, 3)),
        ("12/24", dt.date(2026, 12, 24)),
        ("1月5日", dt.date(2027, 1, 5)),  # more than a month gone this year: next year
        ("12/1", dt.date(2026, 12, 1)),  # recent: this year, and so in the past
        ("2026-02-30", None),
        ("tomorrow", None),
    ],
)
def test_typed_dates_are_read_the_ways_people_write_them(
    typed: str, expected: dt.date | None
) -> None:
    assert parse_date(typed, TODAY) == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("45210", 45_210),
        ("45,210 km", 45_210),
        ("45 210公里", 45_210),
        ("４５２１０", 45_210),
        ("45.2", None),
        ("-5", None),
        ("3000000", None),
        ("lots", None),
    ],
)
def test_typed_odometer_figures(typed: str, expected: int | None) -> None:
    assert parse_km(typed) == expected


def test_callback_data_round_trips_and_stays_within_telegrams_limit() -> None:
    data = pack("book", "slot", 12, "202612031030")
    assert data == "book:slot:12:202612031030"
    assert unpack(data) == ButtonData("book", "slot", 12, ("202612031030",))
    assert unpack(pack("adv", "confirm", None, 7)) == ButtonData("adv", "confirm", None, ("7",))
    assert unpack("garbage") is None
    assert unpack("book:slot:x") is None
    with pytest.raises(ValueError, match="64 bytes"):
        pack("cars", "model", 1, "車" * MAX_BYTES)
    with pytest.raises(ValueError, match="':'"):
        pack("cars", "model", 1, "a:b")


async def test_flow_versions_only_grow_and_survive_a_new_session(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with transaction(sessions) as session:
        flow = await load_flow(session, 42, 42)
        assert not flow.active and flow.version == 0
        await enter_step(session, flow, "book", "service", {"vehicle": 3})
        await enter_step(session, flow, "book", "day", {"vehicle": 3, "service": "repair"})
    async with transaction(sessions) as session:
        flow = await load_flow(session, 42, 42)
        assert (flow.name, flow.step, flow.version) == ("book", "day", 2)
        assert flow.data == {"vehicle": 3, "service": "repair"}
        await end_flow(session, flow)
    async with transaction(sessions) as session:
        flow = await load_flow(session, 42, 42)
        assert not flow.active and flow.version == 3 and flow.data == {}
        # Another user in the same chat (a group) has a flow of their own.
        assert (await load_flow(session, 42, 43)).version == 0
