"""build_application(): every handler and job, registered in one ordered list."""

import logging

from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CommandHandler,
    ContextTypes,
    filters,
)
from telegram.request import BaseRequest

from bot.config import Settings
from bot.context import BotData, Carebot, CarebotContext
from bot.db import make_engine, make_sessionmaker, transaction
from bot.handlers.errors import report_error
from bot.handlers.start import start
from bot.render import Renderer
from bot.store_config import StoreConfig
from bot.stores import sync_store

logger = logging.getLogger(__name__)

def build_application(
    settings: Settings,
    store: StoreConfig,
    *,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
) -> Application:
    """The whole bot. `request` lets tests route the Bot API to the in-process sandbox."""
    builder = (
        ApplicationBuilder()
        .token(settings.token)
        .base_url(settings.telegram_api_base_url)
        .context_types(ContextTypes(context=CarebotContext, bot_data=BotData))
        .rate_limiter(AIORateLimiter(max_retries=3))
        .post_init(_open_resources(settings, store))
        .post_shutdown(_close_resources)
    )
    if request is not None:
        builder = builder.request(request)
    if get_updates_request is not None:
        builder = builder.get_updates_request(get_updates_request)
    application = builder.build()

    private = filters.ChatType.PRIVATE
    application.add_handler(CommandHandler("start", start, filters=private))
    application.add_error_handler(report_error)
    return application


def _open_resources(settings: Settings, store: StoreConfig):  # type: ignore[no-untyped-def]
    async def post_init(application: Application) -> None:
        engine = make_engine(settings.database_url)
        sessions = make_sessionmaker(engine)
        async with transaction(sessions) as session:
            row = await sync_store(
                session,
                store,
                timezone=settings.carebot_timezone,
                advisor_chat_id=settings.advisor_chat_id,
            )
        application.bot_data.carebot = Carebot(
            settings=settings,
            store=store,
            store_id=row.id,
            engine=engine,
            sessions=sessions,
            render=Renderer(settings.carebot_template_dir),
        )
        logger.info("store %s ready", store.store.code)

    return post_init


async def _close_resources(application: Application) -> None:
    carebot = application.bot_data.carebot
    if carebot is not None:
        await carebot.engine.dispose()
        application.bot_data.carebot = None

