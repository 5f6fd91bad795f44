"""build_application(): every handler and job, registered in one ordered list."""

import logging

from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseHandler,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest

from bot.config import Settings
from bot.context import BotData, Carebot, CarebotContext
from bot.db import make_engine, make_sessionmaker, transaction
from bot.group_pacing import Clock, GroupPacer
from bot.handlers import (
    advisor_booking,
    care,
    care_advisors,
    events_advisors,
    privacy,
    relay_advisors,
    relay_commands,
    relay_customer,
    stats,
)
from bot.handlers import private as private_chat
from bot.handlers.errors import report_error
from bot.handlers.menu import COMMANDS, publish_commands
from bot.handlers.relay_sender import RelaySender
from bot.rate_limits import PacedRateLimiter
from bot.render import Renderer
from bot.store_config import StoreConfig
from bot.stores import sync_store
from bot.update_queue import HandledUpdateQueue
from scheduler.jobs import CareJobs
from scheduler.messages import AREA as CARE_AREA

logger = logging.getLogger(__name__)

# Handler group of the advisor relay: it runs after the owners' and advisors' handlers (group 0)
# and gets only the messages they did not use (flows and menus, odometer answers, ...).
RELAY_GROUP = 1
# An advisor answering an event question (bot/handlers/events_advisors.py) comes before every
# other handler of the advisor chat; it stops only the messages that are such answers.
ADVISOR_ANSWERS_GROUP = -1
_CLAIMED_AREAS = (
    *private_chat.AREAS,
    "adv",
    events_advisors.AREA,
    relay_customer.AREA,
    CARE_AREA,
    care_advisors.AREA,
)
_UNCLAIMED_BUTTON = rf"^(?!({'|'.join(_CLAIMED_AREAS)}):)"


def build_application(
    settings: Settings,
    store: StoreConfig,
    *,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
    clock: Clock | None = None,
    care_jobs: bool = True,
) -> Application:
    """The whole bot. `request` lets tests route the Bot API to the in-process sandbox.

    `clock` paces the advisor groups (a benchmark runs a simulated minute faster).
    `care_jobs=False` leaves the care scheduler's ticks out (tests drive them themselves).
    """
    relay = store.relay
    # One budget per advisor group, shared by the relay's queue and every other group post.
    pacer = GroupPacer(
        per_minute=relay.group_posts_per_minute,
        gap=relay.group_post_gap_seconds,
        burst=relay.group_burst,
        clock=clock,
    )
    builder = (
        ApplicationBuilder()
        .token(settings.token)
        .base_url(settings.telegram_api_base_url)
        # Telegram lets an update go only once it has been handled (bot/update_queue.py).
        .update_queue(HandledUpdateQueue())
        .context_types(ContextTypes(context=CarebotContext, bot_data=BotData))
        .rate_limiter(PacedRateLimiter(pacer, max_retries=3))
        .post_init(_open_resources(settings, store, pacer, care_jobs))
        .post_stop(_stop_relay)
        .post_shutdown(_close_resources)
    )
    if request is not None:
        builder = builder.request(request)
    if get_updates_request is not None:
        builder = builder.get_updates_request(get_updates_request)
    application = builder.build()

    private = filters.ChatType.PRIVATE
    menu_commands = [
        name for name in COMMANDS if name not in ("start", *care.COMMANDS, *privacy.COMMANDS)
    ]
    handlers: list[BaseHandler] = [
        # Owners, group 0. Commands first: /cancel must work whatever flow is active.
        CommandHandler("start", private_chat.on_start, filters=private),
        CommandHandler(care.COMMANDS, care.on_consent_command, filters=private),
        CommandHandler(privacy.COMMANDS, privacy.on_command, filters=private),
        CommandHandler(menu_commands, private_chat.on_command, filters=private),
        # Inline buttons carry <area>:<action>:<version>; the advisor card's area is `adv`.
        CallbackQueryHandler(private_chat.on_button, pattern=private_chat.BUTTON_PATTERN),
        CallbackQueryHandler(advisor_booking.on_card_button, pattern=r"^adv:"),
        CallbackQueryHandler(events_advisors.on_button, pattern=rf"^{events_advisors.AREA}:"),
        # Care buttons belong to no flow: each checks what it names (bot/handlers/care.py).
        CallbackQueryHandler(care.on_care_button, pattern=rf"^{CARE_AREA}:"),
        CallbackQueryHandler(
            care_advisors.on_campaign_button, pattern=rf"^{care_advisors.AREA}:"
        ),
        # Data no area claims (forged, or left by another bot): answered so the client stops
        # waiting, and nothing else happens.
        CallbackQueryHandler(private_chat.on_unclaimed_button, pattern=_UNCLAIMED_BUTTON),
        # Texts, photos and contacts: sign-up, menu labels, the active flow's step. It stops
        # the update when it used it, so the relay group below only sees the rest.
        MessageHandler(
            private & ~filters.COMMAND & (filters.TEXT | filters.PHOTO | filters.CONTACT),
            private_chat.on_message,
        ),
    ]
    if settings.advisor_chat_id is not None:
        advisors = filters.Chat(list(settings.advisor_chat_ids))
        handlers.append(
            CommandHandler("events", events_advisors.on_events_command, filters=advisors)
        )
        handlers.append(CommandHandler("preview", care_advisors.on_preview, filters=advisors))
        handlers.append(CommandHandler("campaign", care_advisors.on_campaign, filters=advisors))
        # Numbers and due lists only ever answer in the store's own advisor groups.
        handlers.append(CommandHandler("stats", stats.on_stats, filters=advisors))
        handlers.append(CommandHandler("due", stats.on_due, filters=advisors))
        application.add_handler(
            MessageHandler(
                advisors & ~filters.COMMAND & (filters.TEXT | filters.PHOTO | filters.LOCATION),
                events_advisors.on_message,
            ),
            group=ADVISOR_ANSWERS_GROUP,
        )
        # An advisor's reply to an odometer question, before the relay could copy it to the
        # customer; other replies in the advisor chats pass on.
        handlers.append(
            MessageHandler(
                filters.Chat(list(settings.advisor_chat_ids)) & filters.REPLY & filters.TEXT,
                advisor_booking.on_advisor_reply,
            )
        )
    application.add_handlers(handlers)
    # Group 1, the relay: what the owners' router did not use goes to the advisors; what the
    # advisor handlers above did not stop goes from the advisor groups to the customers.
    advisor_groups = filters.Chat(list(settings.advisor_chat_ids))
    application.add_handlers(
        [
            MessageHandler(private & ~filters.COMMAND, private_chat.relay_to_advisors),
            CommandHandler(
                relay_commands.COMMANDS,
                relay_commands.on_advisor_command,
                filters=advisor_groups & filters.UpdateType.MESSAGE,
            ),
            # Other commands never reach a customer; `//` notes are sorted out inside.
            MessageHandler(
                advisor_groups & ~filters.COMMAND & ~filters.StatusUpdate.ALL,
                relay_advisors.on_group_message,
            ),
            # Customer data goes only to configured groups: the bot leaves any other.
            MessageHandler(
                filters.ChatType.GROUPS & ~advisor_groups, relay_advisors.on_stranger_group
            ),
            CallbackQueryHandler(
                relay_customer.on_relay_button, pattern=rf"^{relay_customer.AREA}:"
            ),
            ChatMemberHandler(relay_advisors.on_my_membership, ChatMemberHandler.MY_CHAT_MEMBER),
        ],
        group=RELAY_GROUP,
    )
    application.add_error_handler(report_error)
    return application


def _open_resources(settings: Settings, store: StoreConfig, pacer: GroupPacer, care_jobs: bool):  # type: ignore[no-untyped-def]
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
        carebot = application.bot_data.carebot
        if settings.advisor_chat_ids:
            carebot.relay = RelaySender(application.bot, carebot, pacer)
            carebot.relay.start()
            # Advisors' albums a stopped process left, or that met a network failure.
            application.job_queue.run_repeating(
                relay_advisors.send_waiting_albums, interval=10, first=1, name="advisor-albums"
            )
        if care_jobs:
            carebot.care = CareJobs(application, carebot)
            carebot.care.schedule(application)
        logger.info("store %s ready", store.store.code)
        await publish_commands(
            application, application.bot_data.carebot.render, settings.carebot_default_locale
        )

    return post_init


async def _stop_relay(application: Application) -> None:
    # While the bot can still talk to Telegram: the care sender records what it has in flight,
    # the group senders finish their post, and both stop.
    carebot = application.bot_data.carebot
    if carebot is not None and carebot.care is not None:
        await carebot.care.stop()
    if carebot is not None and carebot.relay is not None:
        await carebot.relay.stop()


async def _close_resources(application: Application) -> None:
    carebot = application.bot_data.carebot
    if carebot is not None:
        if carebot.relay is not None:
            await carebot.relay.stop()
        await carebot.engine.dispose()
        application.bot_data.carebot = None
