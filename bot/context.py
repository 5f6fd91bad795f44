"""Typed callback context: handlers reach settings, store, database and templates through it."""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from telegram.ext import Application, CallbackContext, ExtBot

from bot.config import Settings
from bot.locales import Locale, as_locale
from bot.render import Renderer
from bot.store_config import StoreConfig

if TYPE_CHECKING:
    from bot.handlers.relay_sender import RelaySender
    from scheduler.jobs import CareJobs


@dataclass
class Carebot:
    """What every handler and job needs, opened in post_init and closed in post_shutdown."""

    settings: Settings
    store: StoreConfig
    store_id: int
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    render: Renderer
    # The advisor relay's group sender; None when no advisor group is configured.
    relay: "RelaySender | None" = None
    # The care scheduler's planning and sending ticks; None when jobs are off (tests).
    care: "CareJobs | None" = None

    @property
    def default_locale(self) -> Locale:
        return self.settings.carebot_default_locale

    def locale_of(self, stored: str | None) -> Locale:
        """A customer's saved locale, or the store default when none is saved."""
        return as_locale(stored, self.default_locale)


class BotData:
    """The application's bot_data: holds the Carebot resources once they are open."""

    def __init__(self) -> None:
        self.carebot: Carebot | None = None


class CarebotContext(CallbackContext[ExtBot[None], dict, dict, BotData]):
    """CallbackContext with `context.carebot`."""

    def __init__(
        self,
        application: "Application[ExtBot[None], CarebotContext, dict, dict, BotData, object]",
        chat_id: int | None = None,
        user_id: int | None = None,
    ) -> None:
        super().__init__(application=application, chat_id=chat_id, user_id=user_id)  # type: ignore[arg-type]

    @property
    def carebot(self) -> Carebot:
        carebot = self.bot_data.carebot
        if carebot is None:
            raise RuntimeError("Carebot resources are not open yet (post_init has not run)")
        return carebot
