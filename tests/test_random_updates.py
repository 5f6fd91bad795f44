"""Random sequences of updates thrown at the whole application find no error and no bad request.

Owners and an advisor act at random through the sandbox: texts (unicode, HTML, template syntax,
commands, menu labels, dates and figures), contacts of their own and of others, photos, stickers,
voice, locations, documents, presses of real and forged buttons, and edits. After every action the
harness re-raises any error a handler hit; at the end of each sequence the relay queue must have
drained and the sandbox must have seen no request that breaks the Bot API spec.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.sandbox import Sandbox, User
from bot.store_config import StoreConfig
from tests.conftest import harness_settings
from tests.harness import Harness
from tests.relay_steps import relay_store, relayed

pytestmark = pytest.mark.slow
SPEED = 100.0

MENU = ["Book service", "My appointments", "Club events", "My cars", "Talk to an advisor"]
COMMANDS = ["/start", "/book", "/cars", "/appointments", "/language", "/cancel", "/help", "/x"]
ADVISOR_COMMANDS = ["/card", "/note hi", "/close", "/reopen", "/reply thanks", "/book", "/events"]
SAMPLES = [
    "{{ 7*7 }}",
    "{% raw %}<b>",
    "<script>alert(1)</script>",
    "&amp; &lt; &#0; &",
    "</b></i>",
    "ABC-1234",
    "45210",
    "2021-03-15",
    "12/24",
    "Toyota",
    "RAV4",
    "// a note",
    "@carebot_test_bot",
    "1",
    "長" * 4096,
]
FORGED = [
    "book:slot:1:209901011000",
    "adv:confirm:-:1",
    "evadv:publish:-:1",
    "relay:score:-:5",
    "cars:remove:0:1",
    ":::",
    "x" * 64,
]

# Telegram delivers no message that is empty or only blanks.
texts = st.one_of(
    st.sampled_from(MENU + COMMANDS + SAMPLES),
    st.text(max_size=120),
    st.builds(lambda a, b: f"{a} {b}", st.sampled_from(SAMPLES[:6]), st.text(max_size=40)),
).filter(str.strip)
owner_actions = st.one_of(
    st.tuples(st.just("text"), texts),
    st.tuples(st.just("contact"), st.booleans()),
    st.tuples(st.just("media"), st.sampled_from(["photo", "sticker", "voice", "location", "doc"])),
    st.tuples(st.just("press"), st.integers(0, 50)),
    st.tuples(
        st.just("forge"), st.one_of(st.sampled_from(FORGED), st.text(min_size=1, max_size=20))
    ),
    st.tuples(st.just("edit"), texts),
)
advisor_actions = st.one_of(
    st.tuples(st.just("say"), st.one_of(st.sampled_from(ADVISOR_COMMANDS), texts)),
    st.tuples(st.just("tap"), st.integers(0, 50)),
)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("owner"), st.integers(0, 2), owner_actions),
        st.tuples(st.just("advisor"), st.just(0), advisor_actions),
    ),
    min_size=1,
    max_size=14,
)


class FastClock:
    """The relay pacer's clock, a hundred times real time: a paced minute takes 0.6 s."""

    def now(self) -> float:
        return time.monotonic() * SPEED

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / SPEED)


@pytest.fixture
async def world(
    database_url: str, sandbox: Sandbox, store_config: StoreConfig
) -> AsyncIterator[tuple[Harness, list[User]]]:
    advisor = sandbox.add_user("Chen", language_code="zh-hant", username="advisor_chen")
    forum = sandbox.add_forum("Service advisors", members=[advisor])
    harness = Harness(
        sandbox=sandbox,
        settings=harness_settings(database_url, forum),
        store=relay_store(store_config),
        advisor_chat_id=forum,
        advisor=advisor,
        pacer_clock=FastClock(),
    )
    await harness.start()
    try:
        owners = [
            sandbox.add_user(name, language_code=code, phone_number=phone)
            for name, code, phone in (
                ("Mei", "en", "+886912000001"),
                ("<b>Bo</b>", "zh-hant", "+886912000002"),
                ("{{ x }}", "zh-hans", "+8613812345678"),
            )
        ]
        yield harness, owners
    finally:
        await harness.stop()
    await sandbox.aclose()
    assert sandbox.violations == []
    assert sandbox.internal_errors == []


def _last_own_text(sandbox: Sandbox, user: User) -> Any:
    mine = [m for m in sandbox.messages(user.id, from_bot=False) if m.text is not None]
    return mine[-1] if mine else None


def _buttons(sandbox: Sandbox, chat_id: int) -> list[tuple[Any, str]]:
    return [
        (message, data)
        for message in sandbox.messages(chat_id, from_bot=True)[-6:]
        for data in message.callback_data
    ]


async def _owner_acts(harness: Harness, user: User, others: list[User], action: tuple) -> None:
    sandbox = harness.sandbox
    kind, value = action
    if kind == "text":
        sandbox.send_text(user, value)
    elif kind == "contact":
        other = others[0]
        if value:
            sandbox.send_contact(user)
        else:
            sandbox.send_contact(user, other.phone_number, contact_user_id=other.id)
    elif kind == "media":
        send = {
            "photo": lambda: sandbox.send_photo(user),
            "sticker": lambda: sandbox.send_sticker(user),
            "voice": lambda: sandbox.send_voice(user),
            "location": lambda: sandbox.send_location(user, 25.0, 121.5),
            "doc": lambda: sandbox.send_document(user),
        }[value]
        send()
    elif kind == "press":
        buttons = _buttons(sandbox, user.id)
        if buttons:
            message, data = buttons[value % len(buttons)]
            sandbox.press_button(user, message, data)
    elif kind == "forge":
        message = sandbox.last_message(user.id)
        if message is not None:
            sandbox.press_button(user, message, value, forge=True)
    elif kind == "edit":
        mine = _last_own_text(sandbox, user)
        if mine is not None:
            sandbox.edit_text(user, mine, value)
    await harness.deliver()


async def _advisor_acts(harness: Harness, action: tuple) -> None:
    sandbox, chat = harness.sandbox, harness.advisor_chat_id
    kind, value = action
    # Advisors without topic rights cannot write in a closed topic.
    topics = [topic for topic in sandbox.topics(chat) if not topic.closed]
    if kind == "say":
        topic = topics[hash(value) % len(topics)].thread_id if topics else None
        sandbox.send_text(harness.advisor, value, chat_id=chat, thread_id=topic)
    else:
        buttons = _buttons(sandbox, chat)
        if buttons:
            message, data = buttons[value % len(buttons)]
            sandbox.press_button(harness.advisor, message, data)
    await harness.deliver()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=steps)
async def test_random_updates_raise_no_error_and_break_no_rule_of_the_bot_api(
    world: tuple[Harness, list[User]], sequence: list[tuple]
) -> None:
    harness, owners = world
    # The world lives on between examples; each one answers for what happened during it.
    violations, internal = len(harness.sandbox.violations), len(harness.sandbox.internal_errors)
    for who, index, action in sequence:
        if who == "owner":
            user = owners[index]
            await _owner_acts(harness, user, [o for o in owners if o is not user], action)
        else:
            await _advisor_acts(harness, action)
    await relayed(harness)
    assert harness.sandbox.violations[violations:] == []
    assert harness.sandbox.internal_errors[internal:] == []
