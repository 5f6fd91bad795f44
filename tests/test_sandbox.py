"""The Telegram sandbox driven in-process through a real PTB Bot."""

from __future__ import annotations

import asyncio
import datetime as dtm
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    ReplyParameters,
    Update,
)
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes
from telegram.warnings import PTBUserWarning

from bot.sandbox import AdminRights, Faults, Limits, ManualClock, Sandbox, SandboxRequest

TOKEN = "123456789:AAHsandboxTokenForTests_0123456789ab"
SPEC_PATH = Path(__file__).resolve().parents[2] / "shared/telegram-bot-api/api.json"
needs_spec = pytest.mark.skipif(
    not SPEC_PATH.exists(), reason=f"Bot API spec not found at {SPEC_PATH}"
)
PNG_2x1 = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x02\x00\x00\x00\x01" + b"\x00" * 16


@pytest.fixture(autouse=True)
def timedelta_durations(monkeypatch: pytest.MonkeyPatch) -> None:
    # Opt in to PTB's timedelta durations; the int form warns, and warnings are errors here.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


def spec_path() -> Path | None:
    return SPEC_PATH if SPEC_PATH.exists() else None


@pytest.fixture(
    params=[pytest.param("spec", marks=needs_spec), "no-spec"],
)
async def sb(request: pytest.FixtureRequest) -> AsyncIterator[Sandbox]:
    # Every behaviour must hold with and without api.json: spec checks only add to them.
    sandbox = Sandbox(spec_path=spec_path() if request.param == "spec" else None, limits=None,
                      token=TOKEN)
    yield sandbox
    await sandbox.aclose()


def make_bot(sandbox: Sandbox, token: str = TOKEN) -> Bot:
    return Bot(token, request=SandboxRequest(sandbox), get_updates_request=SandboxRequest(sandbox))


@pytest.fixture
async def bot(sb: Sandbox) -> AsyncIterator[Bot]:
    async with make_bot(sb) as telegram_bot:
        yield telegram_bot


# --------------------------------------------------------------------------- sending


async def test_html_message_is_stored_as_text_plus_entities(sb: Sandbox, bot: Bot) -> None:
    user = sb.add_user("Ann")
    sent = await bot.send_message(user.id, "<b>Hello</b> &amp; welcome, R&D", parse_mode="HTML")
    assert sent.text == "Hello & welcome, R&D"
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [("bold", 0, 5)]
    [stored] = sb.messages(user.id, from_bot=True)
    assert stored.text == sent.text
    assert stored.html == "<b>Hello</b> &amp; welcome, R&D"
    assert stored.message_id == sent.message_id
    assert sb.violations == []


async def test_message_ids_increase_per_chat(sb: Sandbox, bot: Bot) -> None:
    ann, bob = sb.add_user("Ann"), sb.add_user("Bob")
    first = await bot.send_message(ann.id, "one")
    second = await bot.send_message(ann.id, "two")
    other = await bot.send_message(bob.id, "one")
    assert second.message_id == first.message_id + 1
    assert other.message_id == 1


@pytest.mark.parametrize(
    ("html", "reason"),
    [
        ("<foo>x</foo>", 'Unsupported start tag "foo" at byte offset 0'),
        ("price < 5", 'Unsupported start tag "" at byte offset 6'),
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", 'End tag "i" doesn\'t match start tag "b" at byte offset 4'),
    ],
)
async def test_bad_html_is_refused_like_telegram(
    sb: Sandbox, bot: Bot, html: str, reason: str
) -> None:
    user = sb.add_user("Ann")
    with pytest.raises(BadRequest, match="Can't parse entities") as caught:
        await bot.send_message(user.id, html, parse_mode="HTML")
    # PTB capitalizes descriptions (lower-casing the rest), so compare the raw answer too.
    assert caught.value.message == f"Can't parse entities: {reason}".capitalize()
    assert sb.requests[-1].description == f"Bad Request: can't parse entities: {reason}"
    assert sb.messages(user.id) == []
    assert sb.violations


async def test_markdown_v2_reserved_character(sb: Sandbox, bot: Bot) -> None:
    user = sb.add_user("Ann")
    with pytest.raises(BadRequest, match=r"(?i)character '\.' is reserved"):
        await bot.send_message(user.id, "Booked for 10.30", parse_mode="MarkdownV2")
    sent = await bot.send_message(user.id, r"*Booked* for 10\.30", parse_mode="MarkdownV2")
    assert sent.text == "Booked for 10.30"


async def test_text_length_is_counted_in_utf16_after_parsing(sb: Sandbox, bot: Bot) -> None:
    user = sb.add_user("Ann")
    await bot.send_message(user.id, "🚗" * 2048)  # 4096 UTF-16 code units
    await bot.send_message(user.id, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(user.id, "🚗" * 2049)
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(user.id, "<b> </b>", parse_mode="HTML")
    with pytest.raises(BadRequest, match="Message caption is too long"):
        await bot.send_photo(user.id, PNG_2x1, caption="c" * 1025)


async def test_long_callback_data_is_refused_and_recorded(sb: Sandbox, bot: Bot) -> None:
    user = sb.add_user("Ann")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Too long", callback_data="x" * 65)]])
    with pytest.raises(BadRequest, match="Button_data_invalid"):
        await bot.send_message(user.id, "Pick", reply_markup=keyboard)
    assert any("callback_data" in v or "BUTTON_DATA_INVALID" in v for v in sb.violations)


async def test_unknown_method_is_404_and_unsupported_method_400(sb: Sandbox, bot: Bot) -> None:
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("sendTelepathy")
    with (
        pytest.warns(PTBUserWarning, match="sendDice"),
        pytest.raises(BadRequest, match=r"(?i)method not supported by the sandbox"),
    ):
        await bot.do_api_request("sendDice", api_kwargs={"chat_id": 1})


async def test_wrong_token_is_unauthorized(sb: Sandbox) -> None:
    with pytest.raises(InvalidToken):
        await make_bot(sb, "42:AAHsomeOtherTokenThatIsNotConfigured").get_me()


async def test_get_me_and_get_chat_parse_in_ptb(sb: Sandbox, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == 123456789 and me.is_bot and me.username == "carebot_123456789_bot"
    assert me.can_join_groups is True and me.supports_inline_queries is False
    user = sb.add_user("Ann", username="ann")
    chat = await bot.get_chat(user.id)
    assert chat.first_name == "Ann" and chat.max_reaction_count == 11
    forum = sb.add_forum("Advisors")
    info = await bot.get_chat(forum)
    assert info.is_forum and info.title == "Advisors"


async def test_blocked_user_gives_forbidden_and_a_membership_update(
    sb: Sandbox, bot: Bot
) -> None:
    user = sb.add_user("Ann")
    sb.block_bot(user)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(user.id, "Your car is ready")
    [update] = sb.take_updates()
    assert update["my_chat_member"]["new_chat_member"]["status"] == "kicked"
    sb.unblock_bot(user)
    await bot.send_message(user.id, "Your car is ready")


async def test_user_who_never_started_the_bot(sb: Sandbox, bot: Bot) -> None:
    user = sb.add_user("Ann", started=False)
    with pytest.raises(Forbidden, match="can't initiate conversation"):
        await bot.send_message(user.id, "Hi")
    sb.send_text(user, "/start")
    await bot.send_message(user.id, "Hi")


async def test_unknown_chat(sb: Sandbox, bot: Bot) -> None:
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(987654321, "hello?")


# --------------------------------------------------------------------------- editing


async def test_edit_not_modified_and_keyboard_removal(sb: Sandbox, bot: Bot) -> None:
    user = sb.add_user("Ann")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("OK", callback_data="ok")]])
    sent = await bot.send_message(user.id, "Confirm?", reply_markup=keyboard)
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text("Confirm?", user.id, sent.message_id, reply_markup=keyboard)
    edited = await bot.edit_message_text("Confirmed", user.id, sent.message_id)
    assert edited.edit_date is not None and edited.reply_markup is None
    stored = sb.message(user.id, sent.message_id)
    assert stored.text == "Confirmed" and stored.reply_markup is None
    assert stored.history[0].text == "Confirm?"
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", user.id, 999)


async def test_edit_caption_and_markup(sb: Sandbox, bot: Bot) -> None:
    user = sb.add_user("Ann")
    photo = await bot.send_photo(user.id, PNG_2x1, caption="before")
    edited = await bot.edit_message_caption(user.id, photo.message_id, caption="<i>after</i>",
                                            parse_mode="HTML")
    assert edited.caption == "after" and edited.caption_entities[0].type == "italic"
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Go", url="https://example.com")]])
    await bot.edit_message_reply_markup(user.id, photo.message_id, reply_markup=keyboard)
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_reply_markup(user.id, photo.message_id, reply_markup=keyboard)
    text = await bot.send_message(user.id, "plain")
    with pytest.raises(BadRequest, match="There is no caption"):
        await bot.edit_message_caption(user.id, text.message_id, caption="x")


async def test_delete_messages(sb: Sandbox, bot: Bot) -> None:
    user = sb.add_user("Ann")
    sent = await bot.send_message(user.id, "oops")
    incoming = sb.send_text(user, "hello").message
    assert await bot.delete_messages(user.id, [sent.message_id, incoming.message_id])
    assert sb.messages(user.id) == []
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(user.id, sent.message_id)


# --------------------------------------------------------------------------- flood control


async def test_per_chat_limit_with_burst() -> None:
    clock = ManualClock()
    sandbox = Sandbox(limits=Limits(), clock=clock, token=TOKEN)
    user = sandbox.add_user("Ann")
    async with make_bot(sandbox) as telegram_bot:
        for _ in range(3):
            await telegram_bot.send_message(user.id, "burst")
        with pytest.raises(RetryAfter) as caught:
            await telegram_bot.send_message(user.id, "one too many")
        assert caught.value.retry_after == dtm.timedelta(seconds=1)
        await telegram_bot.edit_message_text("edits are not counted", user.id, 1)
        clock.advance(1)
        await telegram_bot.send_message(user.id, "after waiting")
    assert sandbox.rate_limited == 1
    assert sandbox.calls("sendMessage")[3].status == 429
    await sandbox.aclose()


async def test_group_limit_is_20_per_minute() -> None:
    clock = ManualClock()
    sandbox = Sandbox(limits=Limits(), clock=clock, token=TOKEN)
    group = sandbox.add_group("Workshop")
    async with make_bot(sandbox) as telegram_bot:
        for _ in range(20):
            await telegram_bot.send_message(group, "status")
            clock.advance(1.5)
        with pytest.raises(RetryAfter) as caught:
            await telegram_bot.send_message(group, "21st")
        # The first of the 20 leaves the 60 s window at t=60; now is t=30.
        assert caught.value.retry_after == dtm.timedelta(seconds=30)
        clock.advance(30)
        await telegram_bot.send_message(group, "fits again")
    await sandbox.aclose()


async def test_global_limit_is_30_per_second() -> None:
    sandbox = Sandbox(limits=Limits(), clock=ManualClock(), token=TOKEN)
    users = [sandbox.add_user(f"U{i}") for i in range(31)]
    async with make_bot(sandbox) as telegram_bot:
        for user in users[:30]:
            await telegram_bot.send_message(user.id, "broadcast")
        with pytest.raises(RetryAfter):
            await telegram_bot.send_message(users[30].id, "broadcast")
    await sandbox.aclose()


# --------------------------------------------------------------------------- forum topics


async def test_topics_lifecycle(sb: Sandbox, bot: Bot) -> None:
    advisor = sb.add_user("Alice")
    forum = sb.add_forum("Advisors", members=[advisor])
    topic = await bot.create_forum_topic(forum, "Ann · Golf service")
    sent = await bot.send_message(forum, "New booking", message_thread_id=topic.message_thread_id)
    assert sent.is_topic_message and sent.message_thread_id == topic.message_thread_id
    # Telegram makes topic messages reply to the topic's creation message.
    assert sent.reply_to_message.forum_topic_created.name == "Ann · Golf service"
    reply = sb.send_text(advisor, "On it", chat_id=forum, reply_to=sent.message_id)
    assert reply.message.message_thread_id == topic.message_thread_id
    assert reply.update["message"]["reply_to_message"]["message_id"] == sent.message_id
    general = await bot.send_message(forum, "General note")
    assert general.message_thread_id is None and not general.is_topic_message
    assert [t.name for t in sb.topics(forum)] == ["Ann · Golf service"]
    assert [m.text for m in sb.messages(forum, thread_id=topic.message_thread_id)
            if m.text] == ["New booking", "On it"]

    await bot.edit_forum_topic(forum, topic.message_thread_id, name="Ann · done")
    await bot.close_forum_topic(forum, topic.message_thread_id)
    # The bot can manage topics, so a closed topic still accepts its messages.
    await bot.send_message(forum, "Closing note", message_thread_id=topic.message_thread_id)
    sb.delete_topic(forum, topic.message_thread_id, by=advisor)
    with pytest.raises(BadRequest, match="Message thread not found"):
        await bot.send_message(forum, "hello?", message_thread_id=topic.message_thread_id)
    assert sb.topics(forum) == []


async def test_closed_topic_without_rights(sb: Sandbox, bot: Bot) -> None:
    forum = sb.add_forum("Advisors", bot_rights=AdminRights(can_manage_topics=False))
    owner = sb.add_user("Owner")
    sb.add_member(forum, owner, "creator")
    with pytest.raises(BadRequest, match="Not enough rights to create a topic"):
        await bot.create_forum_topic(forum, "nope")
    topic = sb.create_topic(forum, "Human topic", by=owner).message.message_thread_id
    sb.close_topic(forum, topic, by=owner)
    with pytest.raises(BadRequest, match="Topic_closed"):
        await bot.send_message(forum, "x", message_thread_id=topic)


async def test_topic_name_limit(sb: Sandbox, bot: Bot) -> None:
    forum = sb.add_forum("Advisors")
    with pytest.raises(BadRequest):
        await bot.create_forum_topic(forum, "n" * 129)
    assert sb.violations


# --------------------------------------------------------------------------- buttons and updates


async def test_button_press_and_answer(sb: Sandbox, bot: Bot) -> None:
    user = sb.add_user("Ann")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Tuesday", callback_data="day:2")]])
    sent = await bot.send_message(user.id, "When?", reply_markup=keyboard)
    stored = sb.message(user.id, sent.message_id)
    with pytest.raises(ValueError, match="no button"):
        sb.press_button(user, stored, "day:7")
    pressed = sb.press_button(user, stored, "day:2")
    query = Update.de_json(pressed.update, bot).callback_query
    assert query.data == "day:2" and query.message.message_id == sent.message_id
    assert await query.answer("Booked")
    assert sb.callback_answers[0].text == "Booked"
    with pytest.raises(BadRequest, match="Query is too old"):
        await query.answer("again")
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query("12345")
    forged = sb.press_button(user, stored, "admin:drop_tables", forge=True)
    assert forged.update["callback_query"]["data"] == "admin:drop_tables"


async def test_long_polling_waits_and_confirms_by_offset(sb: Sandbox, bot: Bot) -> None:
    user = sb.add_user("Ann")
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.05)
    assert not poll.done()
    sb.send_text(user, "hello")
    [update] = await asyncio.wait_for(poll, 2)
    assert update.message.text == "hello"
    again = await bot.get_updates(timeout=0)
    assert [u.update_id for u in again] == [update.update_id]
    assert await bot.get_updates(offset=update.update_id + 1, timeout=0) == ()
    assert sb.pending_updates() == []


async def test_second_poller_conflicts_the_first(sb: Sandbox, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.05)
    second = asyncio.create_task(bot.get_updates(timeout=0))
    with pytest.raises(Conflict, match="terminated by other getUpdates request"):
        await asyncio.wait_for(first, 2)
    assert await second == ()


async def test_allowed_updates_filters_new_updates(sb: Sandbox, bot: Bot) -> None:
    user = sb.add_user("Ann")
    await bot.get_updates(timeout=0, allowed_updates=["callback_query"])
    sb.send_text(user, "ignored")
    assert sb.pending_updates() == []


async def test_application_handles_updates_from_the_sandbox(sb: Sandbox) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Book", callback_data="book")]])
        await update.effective_message.reply_html("<b>Welcome!</b>", reply_markup=keyboard)

    async def book(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.callback_query.answer()
        await update.callback_query.edit_message_text("Booked ✅")

    application = (
        Application.builder().token(TOKEN).request(SandboxRequest(sb))
        .get_updates_request(SandboxRequest(sb)).build()
    )
    application.add_handler(CommandHandler("start", start))
    application.add_handler(CallbackQueryHandler(book, pattern="^book$"))
    user = sb.add_user("Ann")
    async with application:
        await application.start()
        await application.updater.start_polling(poll_interval=0, timeout=1)
        sb.send_text(user, "/start")
        welcome = await sb.wait_for(lambda: sb.last_message(user.id))
        assert welcome.text == "Welcome!" and welcome.callback_data == ["book"]
        sb.press_button(user, welcome, "book")
        await sb.wait_for(lambda: welcome.text == "Booked ✅")
        await application.updater.stop()
        await application.stop()
    assert len(sb.callback_answers) == 1
    assert sb.violations == [] and sb.internal_errors == []


async def test_process_update_harness_with_take_updates(sb: Sandbox, bot: Bot) -> None:
    seen: list[str] = []

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(update.effective_message.text)

    application = Application.builder().bot(bot).build()
    application.add_handler(CommandHandler("help", echo))
    user = sb.add_user("Ann")
    sb.send_text(user, "/help")
    async with application:
        for raw in sb.take_updates(TOKEN):
            await application.process_update(Update.de_json(raw, application.bot))
    assert seen == ["/help"]


# --------------------------------------------------------------------------- media and keyboards


async def test_user_media_can_be_resent_by_file_id(sb: Sandbox, bot: Bot) -> None:
    user = sb.add_user("Ann")
    advisor = sb.add_user("Alice")
    forum = sb.add_forum("Advisors", members=[advisor])
    photo = sb.send_photo(user, PNG_2x1, caption="Scratch on the door")
    sizes = photo.update["message"]["photo"]
    assert sizes[-1]["width"] == 2 and sizes[-1]["height"] == 1
    relayed = await bot.send_photo(forum, sizes[-1]["file_id"], caption="From Ann")
    assert relayed.photo[-1].file_unique_id == sizes[-1]["file_unique_id"]
    voice = sb.send_voice(user, duration=7).update["message"]["voice"]
    copied = await bot.send_voice(forum, voice["file_id"])
    assert copied.voice.duration == dtm.timedelta(seconds=7)
    file = await bot.get_file(voice["file_id"])
    assert await file.download_as_bytearray() == bytearray(b"OggS sandbox-voice")
    with pytest.raises(BadRequest, match="Wrong file identifier"):
        await bot.send_photo(forum, "not-a-file-id")


async def test_uploads_album_document_and_copy(sb: Sandbox, bot: Bot) -> None:
    user = sb.add_user("Ann")
    doc = await bot.send_document(user.id, b"%PDF-1.4 invoice", filename="invoice.pdf")
    assert doc.document.file_name == "invoice.pdf"
    assert doc.document.mime_type == "application/pdf"
    album = await bot.send_media_group(
        user.id, [InputMediaPhoto(PNG_2x1, caption="front"), InputMediaPhoto(PNG_2x1)]
    )
    assert len({m.media_group_id for m in album}) == 1 and album[0].caption == "front"
    incoming = sb.send_album(user, [PNG_2x1, ("video", b"mp4")])
    assert incoming[0].message.media_group_id == incoming[1].message.media_group_id
    assert incoming[1].message.kind == "video"
    copy = await bot.copy_message(user.id, user.id, doc.message_id, caption="again")
    assert sb.message(user.id, copy.message_id).caption == "again"
    location = sb.send_location(user, 52.52, 13.40).update["message"]["location"]
    assert location == {"latitude": 52.52, "longitude": 13.40}


async def test_reply_keyboard_contact_and_quote(sb: Sandbox, bot: Bot) -> None:
    user = sb.add_user("Ann", phone_number="+491701234567")
    keyboard = ReplyKeyboardMarkup([[KeyboardButton("Share phone", request_contact=True)]])
    asked = await bot.send_message(user.id, "Your phone, please", reply_markup=keyboard)
    assert asked.reply_markup is None  # reply keyboards are not echoed in messages
    assert sb.keyboard(user.id)["keyboard"][0][0]["request_contact"] is True
    shared = sb.send_contact(user)
    contact = shared.update["message"]["contact"]
    assert contact == {"phone_number": "+491701234567", "first_name": "Ann", "user_id": user.id}
    await bot.send_message(user.id, "Thanks", reply_markup=ReplyKeyboardRemove())
    assert sb.keyboard(user.id) is None
    question = sb.send_text(user, "Can I come at 9 or 10?").message
    answer = await bot.send_message(
        user.id, "9 works", reply_parameters=ReplyParameters(question.message_id, quote="at 9")
    )
    assert answer.reply_to_message.message_id == question.message_id
    assert answer.quote.text == "at 9" and answer.quote.position == 11


async def test_privacy_mode_in_groups(sb: Sandbox, bot: Bot) -> None:
    user = sb.add_user("Ann")
    group = sb.add_group("Customers", members=[user], bot_admin=False)
    assert sb.send_text(user, "just chatting", chat_id=group).update is None
    assert sb.send_text(user, "/status", chat_id=group).update is not None
    admin_group = sb.add_group("Staff", members=[user])
    assert sb.send_text(user, "just chatting", chat_id=admin_group).update is not None


async def test_group_membership_errors(sb: Sandbox, bot: Bot) -> None:
    group = sb.add_group("Workshop")
    assert await bot.leave_chat(group)
    with pytest.raises(Forbidden, match="bot is not a member of the group chat"):
        await bot.send_message(group, "still here?")


# --------------------------------------------------------------------------- faults and waiting


async def test_fault_injection_server_errors_and_drops(sb: Sandbox, bot: Bot) -> None:
    user = sb.add_user("Ann")
    sb.faults = Faults(server_errors=1.0)
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_message(user.id, "lost")
    assert sb.messages(user.id) == []
    sb.faults = Faults(dropped=1.0)
    with pytest.raises(NetworkError, match="disconnected"):
        await bot.send_message(user.id, "delivered but unacknowledged")
    assert [m.text for m in sb.messages(user.id)] == ["delivered but unacknowledged"]
    assert sb.faults.counts["drop"] == 1


async def test_wait_for_times_out_with_a_clear_error(sb: Sandbox) -> None:
    with pytest.raises(TimeoutError, match="not met"):
        await sb.wait_for(lambda: sb.messages(1), timeout=0.05)


@needs_spec
async def test_responses_match_the_spec() -> None:
    sb = Sandbox(spec_path=SPEC_PATH, limits=None, token=TOKEN)
    assert sb.spec is not None
    async with make_bot(sb) as bot:
        await _exercise_and_check(sb, bot)
    await sb.aclose()


async def _exercise_and_check(sb: Sandbox, bot: Bot) -> None:
    assert sb.spec is not None
    user = sb.add_user("Ann", username="ann")
    forum = sb.add_forum("Advisors", members=[user])
    topic = await bot.create_forum_topic(forum, "T")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]])
    sent = await bot.send_message(forum, "<b>x</b>", parse_mode="HTML",
                                  message_thread_id=topic.message_thread_id,
                                  reply_markup=keyboard)
    sb.press_button(user, sb.message(forum, sent.message_id), "a")
    sb.send_photo(user)
    await bot.get_chat(forum)
    await bot.get_chat_member(forum, user.id)
    await bot.get_chat_administrators(forum)
    await bot.get_webhook_info()
    for record in sb.requests:
        assert record.status == 200, record
    for update in sb.take_updates():
        assert sb.spec.check_value(["Update"], update) == []
    checks = {
        "getMe": (["User"], sb.bot().me()),
        "sendMessage": (["Message"], sb.render(sb.message(forum, sent.message_id))),
    }
    for name, (types, value) in checks.items():
        assert sb.spec.check_value(types, value) == [], name
    assert sb.violations == []
