"""Drive the real application against the in-process sandbox, as owners and advisors do.

A test gets a `Harness` (fixture `harness` in conftest, on each database engine): the bot is
built by `build_application` exactly as `carebot run` builds it, only its Bot API requests go to
an in-process `Sandbox`. Users act through the sandbox; `deliver()` feeds their updates to the
application one by one, as polling would, and re-raises any error a handler hit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Update
from telegram.ext import Application

from bot.app import build_application
from bot.config import Settings
from bot.sandbox import Sandbox, SandboxRequest, StoredMessage, User
from bot.store_config import StoreConfig

TOKEN = "5550001:carebot-sandbox-token-for-tests"
BOT_USERNAME = "carebot_test_bot"


@dataclass
class Harness:
    sandbox: Sandbox
    settings: Settings
    store: StoreConfig
    advisor_chat_id: int
    advisor: User
    application: Application | None = None
    errors: list[BaseException] = field(default_factory=list)
    # The advisor groups' pacer clock (bot/group_pacing.py); None: real time.
    pacer_clock: Any = None

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Build and start the application, running post_init as run_polling would."""
        application = build_application(
            self.settings,
            self.store,
            request=SandboxRequest(self.sandbox),
            get_updates_request=SandboxRequest(self.sandbox),
            clock=self.pacer_clock,
            # The care ticks run on the clock; tests drive planning and sending themselves.
            care_jobs=False,
        )
        application.add_error_handler(self._record_error)
        await application.initialize()
        if application.post_init is not None:
            await application.post_init(application)
        await application.start()
        self.application = application

    async def stop(self) -> None:
        application = self.application
        if application is None:
            return
        self.application = None
        await application.stop()
        await application.shutdown()
        if application.post_shutdown is not None:
            await application.post_shutdown(application)

    async def restart(self) -> None:
        """A new process on the same database: nothing survives but what was stored."""
        await self.stop()
        await self.start()

    async def _record_error(self, update: object, context: Any) -> None:
        self.errors.append(context.error)

    @property
    def app(self) -> Application:
        assert self.application is not None, "the application is not running"
        return self.application

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        carebot = self.app.bot_data.carebot
        assert carebot is not None
        return carebot.sessions

    # --- acting as users -----------------------------------------------------------------------

    async def deliver(self) -> None:
        """Process every pending update in order, until none is left."""
        while updates := self.sandbox.take_updates():
            for data in updates:
                await self.app.process_update(Update.de_json(data, self.app.bot))
        if self.errors:
            error, self.errors = self.errors[0], []
            raise AssertionError(f"a handler failed: {error!r}") from error

    async def send(self, user: User, text: str, **options: Any) -> list[StoredMessage]:
        """The user writes to the bot; returns the bot's replies."""
        chat_id = options.get("chat_id") or user.id
        before = self._last_id(chat_id)
        self.sandbox.send_text(user, text, **options)
        await self.deliver()
        return self._since(chat_id, before)

    async def press(
        self, user: User, message: StoredMessage, data: str, **options: Any
    ) -> list[StoredMessage]:
        """The user taps an inline button; returns the bot's new messages in that chat."""
        before = self._last_id(message.chat_id)
        self.sandbox.press_button(user, message, data, **options)
        await self.deliver()
        return self._since(message.chat_id, before)

    async def share_contact(self, user: User, phone: str, **options: Any) -> list[StoredMessage]:
        before = self._last_id(user.id)
        self.sandbox.send_contact(user, phone, **options)
        await self.deliver()
        return self._since(user.id, before)

    def last(self, chat_id: int) -> StoredMessage:
        """The bot's newest message in a chat (edits show in place)."""
        message = self.sandbox.last_message(chat_id)
        assert message is not None, f"the bot has not written in chat {chat_id}"
        return message

    def _last_id(self, chat_id: int) -> int:
        messages = self.sandbox.messages(chat_id, include_deleted=True)
        return messages[-1].message_id if messages else 0

    def _since(self, chat_id: int, before: int) -> list[StoredMessage]:
        return [m for m in self.sandbox.messages(chat_id, from_bot=True) if m.message_id > before]


def button_data(message: StoredMessage, label: str) -> str:
    """The callback_data of the inline button whose text contains `label`."""
    for button in message.buttons:
        if label in button.get("text", "") and "callback_data" in button:
            return button["callback_data"]
    raise AssertionError(f"no button {label!r} in {[b.get('text') for b in message.buttons]}")
