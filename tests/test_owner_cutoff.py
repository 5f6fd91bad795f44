"""A store whose change cut-off covers every bookable slot: owners cannot move or cancel."""

import pytest

from bot.models import AppointmentStatus
from bot.store_config import Booking, StoreConfig, load_store_config
from tests.harness import Harness
from tests.owner_steps import add_car, appointments_of, book_first_free, sign_up, tap


@pytest.fixture(scope="module")
def store_config() -> StoreConfig:
    """The example store with a cut-off longer than its booking horizon."""
    example = load_store_config(None)
    booking = Booking(**(example.booking.model_dump() | {"change_cutoff_hours": 24 * 40}))
    return example.model_copy(update={"booking": booking})


async def test_changes_inside_the_cutoff_are_refused_with_advice(harness: Harness) -> None:
    owner = harness.sandbox.add_user("Mei", language_code="en")
    await sign_up(harness, owner)
    await add_car(harness, owner, "ABC-1234", "Toyota", "RAV4")
    await book_first_free(harness, owner, "Scheduled maintenance")

    await harness.send(owner, "My appointments")
    detail = await tap(harness, owner, "Scheduled maintenance")
    assert "too close to the appointment" in detail.text
    assert [button["text"] for button in detail.buttons] == ["Back"]
    [appointment] = await appointments_of(harness, owner)
    assert appointment.status == AppointmentStatus.BOOKED
