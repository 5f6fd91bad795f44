"""My cars through the sandbox: two cars, plates normalised, readings, edit and remove."""

import datetime as dt

from sqlalchemy import select

from bot.models import Customer, OdometerReading, ReadingSource, Vehicle
from tests.harness import Harness
from tests.owner_steps import add_car, customer_of, sign_up, tap


async def _vehicles(harness: Harness, customer: Customer) -> list[Vehicle]:
    async with harness.sessions() as session:
        rows = await session.scalars(
            select(Vehicle).where(Vehicle.customer_id == customer.id).order_by(Vehicle.id)
        )
        return list(rows)


async def _readings(harness: Harness, vehicle_id: int) -> list[tuple[int, ReadingSource]]:
    async with harness.sessions() as session:
        rows = await session.scalars(
            select(OdometerReading)
            .where(OdometerReading.vehicle_id == vehicle_id)
            .order_by(OdometerReading.id)
        )
        return [(reading.km, reading.source) for reading in rows]


async def test_owner_registers_two_cars_with_normalised_plates_and_readings(
    harness: Harness,
) -> None:
    owner = harness.sandbox.add_user("Mei", language_code="en")
    await sign_up(harness, owner)
    last = await add_car(harness, owner, "abc 1234", "Toyota", "RAV4", "2021/3/15", "45,210 km")
    assert "Saved: <b>ABC-1234 Toyota RAV4</b>" in (last.source or "")

    # A mainland new-energy plate (8 characters), a model typed rather than picked.
    await harness.send(owner, "My cars")
    await tap(harness, owner, "Add a car")
    replies = await harness.send(owner, "粵b d12345")
    assert "Which brand" in replies[0].text
    await harness.send(owner, "BYD")
    replies = await harness.send(owner, "Seal")
    assert "first registered" in replies[0].text
    await tap(harness, owner, "Skip")
    await harness.send(owner, "１２０００")

    replies = await harness.send(owner, "My cars")
    assert "ABC-1234 Toyota RAV4: 45,210 km" in replies[0].text
    assert "粤BD12345 BYD Seal: 12,000 km" in replies[0].text
    vehicles = await _vehicles(harness, await customer_of(harness, owner))
    assert [(v.plate, v.brand, v.model, v.registration_date) for v in vehicles] == [
        ("ABC-1234", "Toyota", "RAV4", dt.date(2021, 3, 15)),
        ("粤BD12345", "BYD", "Seal", None),
    ]
    assert await _readings(harness, vehicles[0].id) == [(45_210, ReadingSource.CUSTOMER)]


async def test_bad_plates_dates_and_km_are_asked_again(harness: Harness) -> None:
    owner = harness.sandbox.add_user("Mei", language_code="en")
    await sign_up(harness, owner)
    await harness.send(owner, "My cars")
    await tap(harness, owner, "Add a car")
    replies = await harness.send(owner, "hello")
    assert '"hello" does not look like a licence plate' in replies[0].text
    assert "What is the licence plate?" in replies[0].text
    await harness.send(owner, "ABC-1234")
    await tap(harness, owner, "Toyota")
    await tap(harness, owner, "RAV4")
    tomorrow = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    replies = await harness.send(owner, tomorrow)
    assert "not a registration date we can use" in replies[0].text
    await harness.send(owner, "2020-01-31")
    replies = await harness.send(owner, "a lot")
    assert "not an odometer reading" in replies[0].text
    replies = await harness.send(owner, "30000")
    assert "Saved" in replies[0].text


async def test_a_lower_odometer_reading_is_questioned_before_it_is_stored(
    harness: Harness,
) -> None:
    owner = harness.sandbox.add_user("Mei", language_code="en")
    await sign_up(harness, owner)
    await add_car(harness, owner, "ABC-1234", "Toyota", "RAV4", km="45210")
    await harness.send(owner, "My cars")
    await tap(harness, owner, "ABC-1234")
    await tap(harness, owner, "Update odometer")
    replies = await harness.send(owner, "4521")
    assert "lower than the last reading (45,210 km" in replies[0].text
    vehicle = (await _vehicles(harness, await customer_of(harness, owner)))[0]
    assert await _readings(harness, vehicle.id) == [(45_210, ReadingSource.CUSTOMER)]

    last = await tap(harness, owner, "No, type it again")
    assert "What does the odometer show now" in last.text
    replies = await harness.send(owner, "46100")
    assert "now shows 46,100 km" in replies[0].text
    await harness.send(owner, "My cars")
    await tap(harness, owner, "ABC-1234")
    await tap(harness, owner, "Update odometer")
    await harness.send(owner, "100")
    last = await tap(harness, owner, "Yes, that is right")
    assert "now shows 100 km" in last.text
    assert await _readings(harness, vehicle.id) == [
        (45_210, ReadingSource.CUSTOMER),
        (46_100, ReadingSource.CUSTOMER),
        (100, ReadingSource.CUSTOMER),
    ]


async def test_owner_edits_and_removes_a_car(harness: Harness) -> None:
    owner = harness.sandbox.add_user("Mei", language_code="en")
    await sign_up(harness, owner)
    await add_car(harness, owner, "ABC-1234", "Toyota", "RAV4")
    await harness.send(owner, "My cars")
    await tap(harness, owner, "ABC-1234")
    await tap(harness, owner, "Edit")
    await tap(harness, owner, "Licence plate")
    replies = await harness.send(owner, "abd1234")
    assert "Updated." in replies[0].text and "ABD-1234" in replies[0].text
    await tap(harness, owner, "Edit")
    await tap(harness, owner, "Brand and model")
    await tap(harness, owner, "Lexus")
    last = await tap(harness, owner, "NX")
    assert "ABD-1234</b> Lexus NX" in (last.source or "")
    await tap(harness, owner, "Remove")
    last = await tap(harness, owner, "Yes, remove it")
    assert "was removed" in last.text
    replies = await harness.send(owner, "My cars")
    assert "You have not added a car yet" in replies[0].text
    # The history stays for reports; the car only leaves the owner's list.
    vehicles = await _vehicles(harness, await customer_of(harness, owner))
    assert [(v.plate, v.removed_at is not None) for v in vehicles] == [("ABD-1234", True)]


async def test_a_plate_of_another_customer_is_refused(harness: Harness) -> None:
    first = harness.sandbox.add_user("Mei", language_code="en")
    second = harness.sandbox.add_user("Lin", language_code="en")
    await sign_up(harness, first, phone="+886912000001")
    await sign_up(harness, second, phone="+886912000002")
    await add_car(harness, first, "ABC-1234", "Toyota", "RAV4")
    await harness.send(second, "My cars")
    await tap(harness, second, "Add a car")
    replies = await harness.send(second, "ABC 1234")
    assert "registered to another customer" in replies[0].text
    assert "What is the licence plate?" in replies[0].text
