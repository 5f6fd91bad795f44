"""Checks before serving: the database is usable, the Bot API answers, the advisor chat fits."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot, ChatMemberAdministrator, ChatMemberOwner
from telegram.constants import ChatType
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.request import HTTPXRequest

from bot.config import Settings
from bot.db import check_database, make_engine, make_sessionmaker, transaction, upgrade_schema
from bot.errors import SetupError
from bot.store_config import StoreConfig
from bot.stores import sync_store

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Preflight:
    """What the checks before serving found: who the bot is and what the operator should fix."""

    bot_username: str
    problems: list[str]


async def preflight(settings: Settings) -> Preflight:
    """Check the database and the Bot API, then bring the schema up to date.

    Everything that can stop the start is checked before anything is changed, so a bad setting
    costs one clear line and nothing else.
    """
    engine = make_engine(settings.database_url)
    try:
        await check_database(engine)
        username, problems = await check_telegram(settings)
        await upgrade_schema(engine)
    finally:
        await engine.dispose()
    return Preflight(username, problems)


async def prepare_database(settings: Settings) -> None:
    """Connect and bring the schema up to date; a one-line SetupError when that fails."""
    engine = make_engine(settings.database_url)
    try:
        await check_database(engine)
        await upgrade_schema(engine)
    finally:
        await engine.dispose()


@dataclass(frozen=True)
class OpenedStore:
    """A migrated database and the store row, for a command that works outside the bot."""

    sessions: async_sessionmaker[AsyncSession]
    store_id: int
    store_code: str


@asynccontextmanager
async def open_store(settings: Settings, config: StoreConfig) -> AsyncIterator[OpenedStore]:
    """Migrate, sync the store row from the store file, and close the engine afterwards."""
    await prepare_database(settings)
    engine = make_engine(settings.database_url)
    try:
        sessions = make_sessionmaker(engine)
        async with transaction(sessions) as session:
            store = await sync_store(
                session,
                config,
                timezone=settings.carebot_timezone,
                advisor_chat_id=settings.advisor_chat_id,
            )
        yield OpenedStore(sessions, store.id, store.code)
    finally:
        await engine.dispose()


async def check_telegram(settings: Settings) -> tuple[str, list[str]]:
    """Reach the Bot API (fatal when not) and list what is missing in the advisor chat."""
    request = HTTPXRequest(connect_timeout=5, read_timeout=10)
    bot = Bot(settings.token, base_url=settings.telegram_api_base_url, request=request)
    try:
        await bot.initialize()  # calls getMe
    except InvalidToken:
        raise SetupError(
            "TELEGRAM_BOT_TOKEN",
            f"rejected by the Bot API at {settings.telegram_api_base_url} "
            "(check the token, and that the base URL ends in /bot)",
        ) from None
    except NetworkError as exc:
        reason = _without_token(str(exc), settings.token)
        raise SetupError(
            "TELEGRAM_API_BASE_URL",
            f"cannot reach the Bot API at {settings.telegram_api_base_url}: {reason}",
        ) from None
    try:
        problems = await _advisor_chat_problems(bot, settings.advisor_chat_id)
        # Every further advisor group is checked the same way.
        for chat_id in settings.advisor_chat_ids[1:]:
            problems += await _advisor_chat_problems(bot, chat_id)
        return bot.username, problems
    finally:
        await bot.shutdown()


async def _advisor_chat_problems(bot: Bot, chat_id: int | None) -> list[str]:
    if chat_id is None:
        return [
            "ADVISOR_CHAT_ID is not set: advisors will not see bookings or customer messages; "
            "add the bot to your advisors' forum group as an admin and set its id"
        ]
    try:
        chat = await bot.get_chat(chat_id)
        member = await bot.get_chat_member(chat_id, bot.id)
    except TelegramError as exc:
        return [f"ADVISOR_CHAT_ID {chat_id}: the bot cannot open this chat ({exc.message}); add it"]
    problems = []
    if chat.type not in (ChatType.GROUP, ChatType.SUPERGROUP):
        problems.append(f"ADVISOR_CHAT_ID {chat_id} is a {chat.type} chat, not a group")
    if isinstance(member, ChatMemberOwner):
        return problems
    if not isinstance(member, ChatMemberAdministrator):
        problems.append(f"the bot is not an administrator of {chat.title!r}; promote it")
    elif chat.is_forum and not member.can_manage_topics:
        problems.append(f"the bot may not manage topics in {chat.title!r}; grant it Manage Topics")
    if chat.type == ChatType.SUPERGROUP and not chat.is_forum:
        problems.append(
            f"{chat.title!r} has no topics: advisors will answer by replying to each message "
            "(turn on Topics in the group settings for one topic per customer)"
        )
    return problems


def _without_token(text: str, token: str) -> str:
    return text.replace(token, "<token>")
