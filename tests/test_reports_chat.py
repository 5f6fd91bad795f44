"""Reports and privacy in the chat: /stats, /due and the monthly report in the advisor group only;
/privacy, /mydata and /forget for owners. The real application, the sandbox, both engines."""

import csv
import datetime as dt
import io
import json
from collections.abc import AsyncIterator

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from bot.db import transaction
from bot.kpis import month_kpis
from bot.models import AdvisorThread, Customer, LinkDirection, Market, MessageLink, Vehicle
from bot.months import shift_months
from bot.sandbox import Sandbox, StoredMessage, User
from bot.store_config import StoreConfig
from scheduler.monthly_report import post_monthly_report
from tests.care_world import TAIPEI
from tests.harness import Harness, button_data
from tests.owner_steps import tap
from tests.relay_steps import (
    customer_row,
    relay_harness,
    relay_store,
    signed_up_customer,
    topic_messages,
)


@pytest.fixture
async def chat(
    database_url: str, sandbox: Sandbox, store_config: StoreConfig
) -> AsyncIterator[Harness]:
    async with relay_harness(database_url, sandbox, relay_store(store_config)) as harness:
        yield harness
    await sandbox.aclose()
    assert sandbox.violations == []


async def in_advisor_group(harness: Harness, text: str) -> list[StoredMessage]:
    return await harness.send(harness.advisor, text, chat_id=harness.advisor_chat_id)


def file_bytes(harness: Harness, message: StoredMessage) -> bytes:
    return harness.sandbox.files.by_id[message.file_ids[0]].content


async def insurance_ends_in(harness: Harness, user: User, days: int) -> None:
    customer = await customer_row(harness, user)
    today = dt.datetime.now(TAIPEI).date()
    async with transaction(harness.sessions) as session:
        vehicle = await session.scalar(select(Vehicle).where(Vehicle.customer_id == customer.id))
        assert vehicle is not None
        vehicle.insurance_end_date = today + dt.timedelta(days=days)


async def registered_to_be_inspected_in(
    harness: Harness, user: User, days: int, years: int, market: Market | None = None
) -> None:
    """Make the owner's car `years` old in `days` days, under its own market when given."""
    customer = await customer_row(harness, user)
    anniversary = dt.datetime.now(TAIPEI).date() + dt.timedelta(days=days)
    async with transaction(harness.sessions) as session:
        vehicle = await session.scalar(select(Vehicle).where(Vehicle.customer_id == customer.id))
        assert vehicle is not None
        vehicle.registration_date = shift_months(anniversary, -12 * years)
        vehicle.inspection_market = market


def line_of(text: str, plate: str) -> str:
    (line,) = [line for line in text.splitlines() if plate in line]
    return line


# --- the advisor group ----------------------------------------------------------------------------


async def test_stats_answers_a_summary_and_a_chart_in_the_advisor_group(chat: Harness) -> None:
    await signed_up_customer(chat, "Mei Lin")
    replies = await in_advisor_group(chat, "/stats")
    assert [m.kind for m in replies] == ["text", "photo"]
    # The store's language (zh-Hant) and the segment names of labels.yaml.
    summary = replies[0].text or ""
    assert "基盤客戶與指標" in summary and "年度活躍：" in summary
    assert file_bytes(chat, replies[1]).startswith(b"\x89PNG")
    assert replies[1].media["photo"][-1]["width"] == 1280


async def test_stats_and_due_say_nothing_outside_the_advisor_group(chat: Harness) -> None:
    owner = await signed_up_customer(chat, "Mei Lin")
    await insurance_ends_in(chat, owner, 5)
    for command in ("/stats", "/due", "/due 30"):
        assert await chat.send(owner, command) == []
    stranger_group = chat.sandbox.add_group("Another group", members=[chat.advisor])
    for command in ("/stats", "/due"):
        replies = await chat.send(chat.advisor, command, chat_id=stranger_group)
        assert [m for m in replies if not m.service and m.kind in ("text", "photo")] == []


async def test_due_lists_a_car_whose_insurance_ends_soon(chat: Harness) -> None:
    owner = await signed_up_customer(chat, "Mei Lin", plate="DUE-5555", phone="+886912000111")
    await insurance_ends_in(chat, owner, 5)
    far = await signed_up_customer(chat, "Far Away", plate="FAR-0001")
    await insurance_ends_in(chat, far, 60)
    (reply,) = await in_advisor_group(chat, "/due")
    assert "DUE-5555" in (reply.text or "") and "+886912000111" in (reply.text or "")
    # Only its insurance line: from 2027 the car is also inspected every March.
    assert not any(
        "FAR-0001" in line and "保險到期" in line for line in (reply.text or "").splitlines()
    )
    (wider,) = await in_advisor_group(chat, "/due 90")
    assert "FAR-0001" in (wider.text or "")


@pytest.mark.parametrize(
    ("locale", "inspection", "label"),
    [
        ("zh-Hant", "驗車", "申領檢驗標誌"),
        ("zh-Hans", "年检", "申领检验标志"),
        ("en", "inspection", "inspection label"),
    ],
)
async def test_due_lists_inspections_in_the_store_language(
    database_url: str,
    sandbox: Sandbox,
    store_config: StoreConfig,
    locale: str,
    inspection: str,
    label: str,
) -> None:
    store = relay_store(store_config)
    async with relay_harness(database_url, sandbox, store, carebot_default_locale=locale) as chat:
        # A Taiwan car turning six (its yearly inspection), a car under mainland rules turning
        # two (only the label), and a Taiwan car turning four (no inspection yet).
        six = await signed_up_customer(chat, "Mei Lin", plate="SIX-0006")
        await registered_to_be_inspected_in(chat, six, days=10, years=6)
        two = await signed_up_customer(chat, "Wang Wei", plate="TWO-0002")
        await registered_to_be_inspected_in(chat, two, days=5, years=2, market=Market.MAINLAND)
        four = await signed_up_customer(chat, "Lee Ann", plate="FOU-0004")
        await registered_to_be_inspected_in(chat, four, days=3, years=4)
        (reply,) = await in_advisor_group(chat, "/due")
    await sandbox.aclose()
    assert sandbox.violations == []
    text = reply.text or ""
    assert inspection in line_of(text, "SIX-0006") and label not in line_of(text, "SIX-0006")
    assert label in line_of(text, "TWO-0002")
    assert "FOU-0004" not in text


@pytest.mark.parametrize("words", ["/due soon", "/due 0", "/due 14 30", "/due -3", "/due 9999"])
async def test_due_with_a_bad_argument_answers_the_usage(chat: Harness, words: str) -> None:
    (reply,) = await in_advisor_group(chat, words)
    assert "/due" in (reply.text or "") and "366" in (reply.text or "")


async def test_a_long_due_list_is_cut_to_one_message_and_comes_whole_as_a_csv_file(
    chat: Harness,
) -> None:
    for n in range(45):
        owner = await signed_up_customer(chat, f"Owner{n} " + "W" * 60, plate=f"LONG-{n:04d}")
        await insurance_ends_in(chat, owner, 3)
    reply, document = await in_advisor_group(chat, "/due")
    text = reply.text or ""
    assert len(text) <= 4096
    assert text.count("LONG-") < 45 and "還有" in text
    # The whole list, in the advisors' language, opens in a spreadsheet.
    assert document.media["document"]["file_name"].endswith(".csv")
    rows = list(csv.reader(io.StringIO(file_bytes(chat, document).decode("utf-8-sig"))))
    assert f"共 {len(rows) - 1} 筆" in (document.caption or "")
    assert rows[0] == ["到期日", "已逾期", "項目", "姓名", "電話", "車牌", "車型"]
    assert sorted(row[5] for row in rows[1:] if row[2] == "保險到期") == [
        f"LONG-{n:04d}" for n in range(45)
    ]


async def test_the_monthly_report_is_posted_once_on_the_first_of_the_month(chat: Harness) -> None:
    await signed_up_customer(chat, "Mei Lin")
    carebot = chat.app.bot_data.carebot
    assert carebot is not None
    assert not await post_monthly_report(chat.app.bot, carebot, dt.date(2026, 7, 2))
    assert await post_monthly_report(chat.app.bot, carebot, dt.date(2026, 7, 1))
    assert not await post_monthly_report(chat.app.bot, carebot, dt.date(2026, 7, 1))
    posted = chat.sandbox.messages(chat.advisor_chat_id, from_bot=True)
    documents = [m for m in posted if m.kind == "document"]
    assert len(documents) == 1
    assert documents[0].media["document"]["file_name"].endswith("2026-06.xlsx")
    workbook = load_workbook(io.BytesIO(file_bytes(chat, documents[0])))
    assert workbook.sheetnames
    summaries = [m for m in posted if m.kind == "text" and "2026-06" in (m.text or "")]
    assert len(summaries) == 1
    # A new process on the same database does not post it again.
    await chat.restart()
    carebot = chat.app.bot_data.carebot
    assert carebot is not None
    assert not await post_monthly_report(chat.app.bot, carebot, dt.date(2026, 7, 1))
    assert (
        len([m for m in chat.sandbox.messages(chat.advisor_chat_id) if m.kind == "document"]) == 1
    )
    # What keeps it once is no care message: care reach never counts it.
    async with chat.sessions() as session:
        kpis = await month_kpis(
            session, carebot.store_id, dt.date(2026, 7, 1), TAIPEI, carebot.store.reports
        )
    assert kpis.care_reach == []


async def with_topic(harness: Harness, customer: Customer) -> AdvisorThread:
    """The customer's topic in the advisor forum, with one relayed message linked to it."""
    topic = await harness.app.bot.create_forum_topic(harness.advisor_chat_id, "Mei Lin")
    async with transaction(harness.sessions) as session:
        thread = AdvisorThread(
            customer_id=customer.id,
            chat_id=harness.advisor_chat_id,
            topic_id=topic.message_thread_id,
        )
        session.add(thread)
        session.add(
            MessageLink(
                customer_id=customer.id,
                customer_message_id=1,
                group_chat_id=harness.advisor_chat_id,
                group_message_id=2,
                direction=LinkDirection.TO_GROUP,
            )
        )
    return thread


# --- owners ---------------------------------------------------------------------------------------


async def test_privacy_tells_what_is_kept_and_why(chat: Harness) -> None:
    owner = await signed_up_customer(chat, "Mei Lin")
    (reply,) = await chat.send(owner, "/privacy")
    text = reply.text or ""
    assert "PDPA" in text and "/mydata" in text and "/forget" in text


async def test_mydata_sends_the_owner_a_json_file_with_their_phone_and_plate(chat: Harness) -> None:
    owner = await signed_up_customer(chat, "Mei Lin", plate="MY-0042", phone="+886912555666")
    replies = await chat.send(owner, "/mydata")
    (document,) = [m for m in replies if m.kind == "document"]
    assert document.chat_id == owner.id
    assert document.media["document"]["file_name"].endswith(".json")
    data = json.loads(file_bytes(chat, document))
    assert data["customer"]["phone"] == "+886912555666"
    assert [v["plate"] for v in data["vehicles"]] == ["MY-0042"]
    # Only the owner got it: nothing went to the advisors.
    assert [m for m in chat.sandbox.messages(chat.advisor_chat_id) if m.kind == "document"] == []


async def test_forget_after_confirming_erases_the_person_and_tells_the_topic(
    chat: Harness,
) -> None:
    owner = await signed_up_customer(chat, "Mei Lin", plate="GONE-001", phone="+886912777888")
    customer = await customer_row(chat, owner)
    thread = await with_topic(chat, customer)
    (question,) = await chat.send(owner, "/forget")
    assert question.buttons
    await tap(chat, owner, "Yes, erase")
    assert "erased" in (chat.last(owner.id).text or "")
    async with chat.sessions() as session:
        row = await session.get_one(Customer, customer.id)
        assert (row.name, row.phone, row.telegram_user_id, row.birthday) == (None, None, None, None)
        assert row.forgotten_at is not None
        vehicle = await session.scalar(select(Vehicle).where(Vehicle.customer_id == customer.id))
        assert vehicle is not None and vehicle.plate is None and vehicle.vin is None
        assert (
            await session.scalar(
                select(func.count())
                .select_from(MessageLink)
                .where(MessageLink.customer_id == customer.id)
            )
            == 0
        )
        assert (
            await session.scalar(
                select(func.count())
                .select_from(AdvisorThread)
                .where(AdvisorThread.customer_id == customer.id)
            )
            == 0
        )
    told = topic_messages(chat, thread.chat_id, thread.topic_id or 0)
    assert any(f"#{customer.id}" in (m.text or "") for m in told)
    assert not any("Mei" in (m.text or "") for m in told[-1:])


async def test_keeping_the_data_at_the_forget_question_changes_nothing(chat: Harness) -> None:
    owner = await signed_up_customer(chat, "Mei Lin", plate="KEEP-001", phone="+886912999000")
    before = await customer_row(chat, owner)
    (question,) = await chat.send(owner, "/forget")
    erase = button_data(question, "Yes, erase")
    await tap(chat, owner, "No, keep")
    assert "Nothing was erased" in (chat.last(owner.id).text or "")
    after = await customer_row(chat, owner)
    assert (after.name, after.phone, after.forgotten_at) == (before.name, before.phone, None)
    # The question's Erase button, pressed after answering, is out of date and erases nothing.
    await chat.press(owner, question, erase, forge=True)
    still = await customer_row(chat, owner)
    assert still.phone == "+886912999000" and still.forgotten_at is None
