"""Topics and groups: one topic per customer under races, re-created topics, plain groups,
several advisor groups, strangers' groups, merged short texts and Telegram's group limit."""

import asyncio
from typing import Any

from sqlalchemy import func, select
from telegram import Update

from bot.app import build_application
from bot.models import AdvisorThread, Outbox, OutboxStatus
from bot.sandbox import Limits, Sandbox, SandboxRequest
from bot.store_config import StoreConfig
from tests.conftest import harness_settings
from tests.harness import Harness
from tests.relay_steps import (
    advisor_writes,
    relay_harness,
    relay_store,
    relayed,
    signed_up_customer,
    thread_row,
    topic_messages,
    write,
)


async def test_two_first_messages_at_once_in_two_processes_make_one_topic(
    database_url: str, sandbox: Sandbox, store_config: StoreConfig
) -> None:
    # Several processes: a message waits a moment for an earlier one still being handled.
    store = relay_store(store_config, order_hold_seconds=0.5)
    async with relay_harness(database_url, sandbox, store) as first:
        second = Harness(
            sandbox=sandbox,
            settings=first.settings,
            store=store,
            advisor_chat_id=first.advisor_chat_id,
            advisor=first.advisor,
        )
        await second.start()
        try:
            mei = await signed_up_customer(first)
            sandbox.send_text(mei, "one")
            sandbox.send_text(mei, "two")
            updates = sandbox.take_updates()
            assert len(updates) == 2
            # Each process gets one of the two first messages, at the same moment.
            await asyncio.gather(
                *(
                    harness.app.process_update(Update.de_json(data, harness.app.bot))
                    for harness, data in zip((first, second), updates, strict=True)
                )
            )
            await relayed(first)
            await relayed(second)
        finally:
            await second.stop()
        topics = sandbox.topics(first.advisor_chat_id)
        assert len(topics) == 1
        texts = [m.text for m in topic_messages(first, first.advisor_chat_id, topics[0].thread_id)]
        # The card, then both messages in the customer's order (merged: they are short).
        assert texts[1:] == ["one\ntwo"]
        async with first.sessions() as session:
            assert await session.scalar(select(func.count()).select_from(AdvisorThread)) == 1


async def test_a_deleted_topic_is_created_again_and_the_message_goes_there(
    database_url: str, sandbox: Sandbox, store_config: StoreConfig
) -> None:
    async with relay_harness(database_url, sandbox, relay_store(store_config)) as relay:
        mei = await signed_up_customer(relay)
        await write(relay, mei, "first")
        old = (await thread_row(relay, mei)).topic_id
        assert old is not None
        sandbox.delete_topic(relay.advisor_chat_id, old, by=relay.advisor)

        await write(relay, mei, "after the topic was deleted")
        new = (await thread_row(relay, mei)).topic_id
        assert new is not None and new != old
        [topic] = sandbox.topics(relay.advisor_chat_id)
        assert topic.thread_id == new
        card, message = topic_messages(relay, relay.advisor_chat_id, new)
        assert "ABC-1234" in card.text
        assert message.text == "after the topic was deleted"


async def test_in_a_plain_group_posts_carry_a_header_and_replies_reach_the_customer(
    database_url: str, sandbox: Sandbox, store_config: StoreConfig
) -> None:
    group = sandbox.add_supergroup("Advisors (no topics)")
    async with relay_harness(
        database_url, sandbox, relay_store(store_config), groups=[group]
    ) as relay:
        mei = await signed_up_customer(relay, "Mei Lin", plate="ABC-1234")
        kai = await signed_up_customer(relay, "Kai Wu", plate="XYZ-9876")
        await write(relay, mei, "My car makes a noise")
        await write(relay, kai, "When is my car ready?")
        sandbox.send_sticker(mei)
        await relay.deliver()
        await relayed(relay)

        posts = [m for m in sandbox.messages(group, from_bot=True)]
        texts = [m.text or "" for m in posts]
        assert sandbox.topics(group) == []
        # Each customer's first post is their card; every post names its customer.
        noise = next(m for m in posts if m.text and "My car makes a noise" in m.text)
        assert noise.text.startswith("👤 Mei Lin · ABC-1234 · #")
        assert any(t.startswith("👤 Kai Wu · XYZ-9876") and "ready?" in t for t in texts)
        sticker = posts[-1]
        assert sticker.kind == "sticker" and "Mei Lin" in (posts[-2].text or "")
        assert sticker.reply_to_message_id == posts[-2].message_id

        # The advisor answers Mei by replying to her message; Kai hears nothing.
        await advisor_writes(relay, None, "It is the brake pads", chat_id=group, reply_to=noise)
        [answer] = sandbox.messages(mei.id, from_bot=True)
        assert answer.text.startswith("It is the brake pads")
        assert sandbox.messages(kai.id, from_bot=True) == []
        # A message that replies to nothing of a customer's stays among the advisors.
        await advisor_writes(relay, None, "coffee anyone?", chat_id=group)
        assert len(sandbox.messages(mei.id, from_bot=True)) == 1


async def test_customers_are_spread_over_the_advisor_groups_and_stay_in_theirs(
    database_url: str, sandbox: Sandbox, store_config: StoreConfig
) -> None:
    north = sandbox.add_forum("North team")
    south = sandbox.add_forum("South team")
    async with relay_harness(
        database_url, sandbox, relay_store(store_config), groups=[north, south]
    ) as relay:
        customers = [await signed_up_customer(relay, f"Owner {n}", plate=None) for n in range(4)]
        for user in customers:
            await write(relay, user, "hello")
        groups = [(await thread_row(relay, user)).chat_id for user in customers]
        assert sorted(groups) == sorted([north, north, south, south])
        assert len(sandbox.topics(north)) == len(sandbox.topics(south)) == 2

        await write(relay, customers[0], "again")
        assert (await thread_row(relay, customers[0])).chat_id == groups[0]
        topic = (await thread_row(relay, customers[0])).topic_id
        assert topic is not None
        assert topic_messages(relay, groups[0], topic)[-1].text == "again"
        # Advisors of the other group cannot act for this customer: their topics are their own.
        other = south if groups[0] == north else north
        assert all(m.text != "again" for m in sandbox.messages(other))


async def test_a_group_that_is_not_configured_is_ignored_and_left(
    database_url: str, sandbox: Sandbox, store_config: StoreConfig
) -> None:
    async with relay_harness(database_url, sandbox, relay_store(store_config)) as relay:
        mei = await signed_up_customer(relay)
        await write(relay, mei, "Hi")
        stranger = sandbox.add_user("Stranger")
        elsewhere = sandbox.add_group("Some other group", members=[stranger])
        sandbox.send_text(stranger, "/card", chat_id=elsewhere)
        sandbox.send_text(stranger, "hello bot", chat_id=elsewhere)
        await relay.deliver()
        await relayed(relay)
        assert sandbox.messages(elsewhere, from_bot=True) == []
        assert not sandbox.member(sandbox.chats[elsewhere], relay.app.bot.id).present
        assert sandbox.messages(mei.id, from_bot=True) == []

        # Being added to a group later: the bot leaves at once.
        another = sandbox.add_group("Yet another", members=[stranger], bot_admin=False)
        chat = sandbox.chats[another]
        bot_account = sandbox.bot()
        sandbox.enqueue(
            bot_account,
            "my_chat_member",
            {
                "chat": chat.to_api(None),
                "from": stranger.to_api(),
                "date": sandbox.now(),
                "old_chat_member": {"user": bot_account.to_api(), "status": "left"},
                "new_chat_member": {"user": bot_account.to_api(), "status": "member"},
            },
        )
        await relay.deliver()
        assert int(sandbox.calls("leaveChat")[-1].params["chat_id"]) == another


async def test_short_texts_sent_within_seconds_are_posted_as_one_message(
    database_url: str, sandbox: Sandbox, store_config: StoreConfig
) -> None:
    async with relay_harness(database_url, sandbox, relay_store(store_config)) as relay:
        mei = await signed_up_customer(relay)
        await write(relay, mei, "Hi")
        carebot = relay.app.bot_data.carebot
        assert carebot is not None and carebot.relay is not None
        # While the group's sender is busy elsewhere, the customer types three short lines.
        sender = carebot.relay
        await sender.stop()
        for line in ("my car", "the grey one", "will not start"):
            sandbox.send_text(mei, line)
        sandbox.send_photo(mei, caption="dashboard")
        sandbox.send_text(mei, "after the photo")
        await relay.deliver()
        sender.start()
        await relayed(relay)
        topic = (await thread_row(relay, mei)).topic_id
        assert topic is not None
        posts = topic_messages(relay, relay.advisor_chat_id, topic)[2:]
        assert [m.text or m.caption for m in posts] == [
            "my car\nthe grey one\nwill not start",
            "dashboard",
            "after the photo",
        ]


class ScaledClock:
    """Simulated seconds running `speed` times faster than real ones."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.start = asyncio.get_running_loop().time()

    def now(self) -> float:
        return 1_000.0 + (asyncio.get_running_loop().time() - self.start) * self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / self.speed)


async def test_a_burst_over_the_group_limit_waits_out_retry_after_and_loses_nothing(
    database_url: str, store_config: StoreConfig, api_spec: Any
) -> None:
    # The sandbox allows 5 posts a minute; the relay believes Telegram allows 20, so it meets
    # 429s and must wait them out, keeping every customer's order.
    clock = ScaledClock(speed=60)
    sandbox = Sandbox(
        spec_path=api_spec,
        limits=Limits(group_per_minute=5, per_chat_burst=20, global_per_second=1000),
        clock=clock.now,
    )
    sandbox.add_bot("5550001:carebot-sandbox-token-for-tests", username="carebot_test_bot")
    advisor = sandbox.add_user("Chen")
    group = sandbox.add_forum("Advisors", members=[advisor])
    store = relay_store(store_config, merge_seconds=0)
    settings = harness_settings(database_url, group)
    application = build_application(
        settings,
        store,
        request=SandboxRequest(sandbox),
        get_updates_request=SandboxRequest(sandbox),
        clock=clock,
    )
    relay = Harness(sandbox, settings, store, group, advisor, application)
    await application.initialize()
    assert application.post_init is not None
    await application.post_init(application)
    await application.start()
    try:
        users = [await signed_up_customer(relay, f"Owner {n}", plate=None) for n in range(3)]
        for n in range(3):
            for user in users:
                sandbox.send_text(user, f"{user.first_name} {n}")
        await relay.deliver()
        await relayed(relay, within=30)
        carebot = application.bot_data.carebot
        assert carebot is not None and carebot.relay is not None
        assert carebot.relay.rate_limited > 0
        for user in users:
            topic = (await thread_row(relay, user)).topic_id
            assert topic is not None
            texts = [m.text for m in topic_messages(relay, group, topic)][1:]
            assert texts == [f"{user.first_name} {n}" for n in range(3)]
        async with relay.sessions() as session:
            statuses = set(await session.scalars(select(Outbox.status)))
        assert statuses == {OutboxStatus.SENT}
    finally:
        await application.stop()
        await application.shutdown()
        assert application.post_shutdown is not None
        await application.post_shutdown(application)
        await sandbox.aclose()
