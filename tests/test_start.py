"""/start through the sandbox: the owner is greeted by store name in their language."""

import pytest
from sqlalchemy import select

from bot.models import Customer
from tests.harness import Harness


@pytest.mark.parametrize(
    ("language_code", "expected"),
    [
        ("zh-hant", "歡迎來到凱程汽車 內湖服務廠"),
        ("zh-TW", "歡迎來到凱程汽車 內湖服務廠"),
        ("zh-hans", "欢迎来到凯程汽车 内湖服务厂"),
        ("zh", "欢迎来到凯程汽车 内湖服务厂"),
        ("en", "Welcome to Kaicheng Motors Neihu Service Center"),
        ("fr", "歡迎來到凱程汽車 內湖服務廠"),  # the store default
        (None, "歡迎來到凱程汽車 內湖服務廠"),
    ],
)
async def test_start_greets_by_store_name_in_the_owners_language(
    harness: Harness, language_code: str | None, expected: str
) -> None:
    owner = harness.sandbox.add_user("Mei", language_code=language_code)
    replies = await harness.send(owner, "/start")
    assert replies, "the bot did not answer /start"
    assert expected in replies[0].text


async def test_names_with_markup_are_shown_as_text(harness: Harness) -> None:
    owner = harness.sandbox.add_user("<b>Tom</b> & <i", language_code="en")
    replies = await harness.send(owner, "/start")
    greeting = replies[0]
    assert "<b>Tom</b> & <i" in greeting.text
    bold = [
        greeting.text[entity["offset"] : entity["offset"] + entity["length"]]
        for entity in greeting.entities
        if entity["type"] == "bold"
    ]
    assert bold == ["Kaicheng Motors Neihu Service Center"]


async def test_start_survives_a_restart_and_remembers_the_owner(harness: Harness) -> None:
    owner = harness.sandbox.add_user("Mei", language_code="en")
    await harness.send(owner, "/start")
    await harness.restart()
    replies = await harness.send(owner, "/start")
    assert "Welcome" in replies[0].text
    async with harness.sessions() as session:
        customers = (await session.scalars(select(Customer))).all()
    assert [c.telegram_user_id for c in customers] == [owner.id]
