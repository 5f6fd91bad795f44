"""The sandbox's world: accounts, chats and messages, the request entry point and the driver API."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx
from telegram import Bot

from bot.sandbox.calls import Answer, Call, Result
from bot.sandbox.entities import detect_entities, utf16_len
from bot.sandbox.errors import NOT_FOUND, UNAUTHORIZED, ApiError, Violation, bad_request
from bot.sandbox.faults import Faults
from bot.sandbox.files import FileStore
from bot.sandbox.limits import Clock, FloodControl, Limits
from bot.sandbox.methods import REGISTRY
from bot.sandbox.params import Params
from bot.sandbox.records import (
    JSON,
    TOPIC_COLORS,
    AdminRights,
    BotAccount,
    CallbackAnswer,
    CallbackQuery,
    Chat,
    Delivered,
    Member,
    RequestRecord,
    StoredMessage,
    Topic,
    User,
)
from bot.sandbox.spec import Spec, Upload
from bot.sandbox.webhook import deliver_forever

logger = logging.getLogger(__name__)

TOKEN_PATTERN = re.compile(r"^(\d+):[A-Za-z0-9_-]{20,}$")
GENERAL_TOPIC = 1
# Update kinds Telegram leaves out unless a bot asks for them in allowed_updates.
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

T = TypeVar("T")


def _known_method_names() -> set[str]:
    """Lower-cased Bot API method names, taken from PTB's camelCase aliases when no spec is set."""
    names = set()
    for name in dir(Bot):
        snake = re.sub(r"([A-Z])", r"_\1", name).lower()
        if name[:1].islower() and snake != name and hasattr(Bot, snake):
            names.add(name.lower())
    return names


class Sandbox:
    """A local Telegram: bots talk to it through the Bot API, tests drive its users."""

    def __init__(
        self,
        spec_path: Path | str | None = None,
        limits: Limits | None = Limits(),  # noqa: B008 - frozen, so sharing it is safe
        clock: Clock | None = None,
        token: str | None = None,
        faults: Faults | None = None,
        webhook_retry_delays: Sequence[float] = (0.1, 0.5, 1.0, 2.0, 5.0),
    ) -> None:
        self.spec = Spec.load(Path(spec_path)) if spec_path else None
        self.clock: Clock = clock or time.monotonic
        self.flood = FloodControl(limits, self.clock) if limits else None
        self.faults = faults or Faults()
        self.fixed_token = token
        self.webhook_retry_delays = tuple(webhook_retry_delays)
        self.users: dict[int, User] = {}
        self.bots: dict[int, BotAccount] = {}
        self.chats: dict[int, Chat] = {}
        self.files = FileStore()
        self.queries: dict[str, CallbackQuery] = {}
        self.requests: list[RequestRecord] = []
        self.violations: list[str] = []
        self.internal_errors: list[str] = []
        self.callback_answers: list[CallbackAnswer] = []
        self.chat_actions: list[tuple[int, str]] = []
        self._next_user_id = 100_000_001
        self._next_group_id = -4_000_000_001
        self._next_supergroup_id = -1_001_000_000_001
        self._version = 0
        self._waiters: list[asyncio.Future[None]] = []
        self._webhook_tasks: dict[int, asyncio.Task[None]] = {}
        self._http_client: httpx.AsyncClient | None = None
        self._method_names: set[str] | None = None
        if token:
            self.add_bot(token)

    # ----------------------------------------------------------------- notifications

    def notify(self) -> None:
        """Wake everything waiting for a state change (long polls, webhooks, wait_for)."""
        self._version += 1
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def changed(self, within: float | None) -> bool:
        """Wait for the next state change; False when ``within`` seconds passed first."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, within)
        except TimeoutError:
            return False
        return True

    async def wait_for(
        self,
        predicate: Callable[[], T],
        timeout: float = 5.0,  # noqa: ASYNC109 - a plain timeout argument reads best in tests
    ) -> T:
        """Wait until ``predicate()`` is truthy and return its value; TimeoutError otherwise."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"sandbox condition not met within {timeout} s")
            await self.changed(remaining)

    async def aclose(self) -> None:
        """Stop webhook deliveries and release network clients."""
        tasks = list(self._webhook_tasks.values())
        self._webhook_tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._http_client is not None:
            await self._http_client.aclose()
            self._http_client = None

    # ----------------------------------------------------------------- Bot API entry point

    @property
    def rate_limited(self) -> int:
        """How many 429 answers were given."""
        return self.flood.refused if self.flood else 0

    def method_exists(self, name: str) -> bool:
        """Whether ``name`` is a Bot API method (per api.json, else per PTB's method list)."""
        if self.spec is not None:
            return self.spec.method_name(name) is not None
        if self._method_names is None:
            self._method_names = _known_method_names()
        return name.lower() in self._method_names

    def authenticate(self, token: str) -> BotAccount | None:
        """Return the bot for a token, creating it on first use; None for a rejected token."""
        if self.fixed_token is not None and token != self.fixed_token:
            return None
        match = TOKEN_PATTERN.match(token)
        if not match:
            return None
        bot = self.bots.get(int(match.group(1)))
        if bot is None:
            return self.add_bot(token)
        return bot if bot.token == token else None

    async def call(
        self,
        token: str,
        method: str,
        values: dict[str, Any],
        files: dict[str, Upload] | None = None,
        read_timeout: float | None = None,
    ) -> Answer:
        """Serve one Bot API request and return the answer a transport should give."""
        fault = self.faults.roll(method)
        if fault == "error":
            return Answer(502, {"ok": False, "error_code": 502, "description": "Bad Gateway"})
        if fault == "hold":
            return Answer(0, {}, action="hold")
        params = Params(values, files)
        bot = self.authenticate(token)
        record = RequestRecord(
            method, params.readable(), 0, None, bot.id if bot else None, sorted(params.files)
        )
        self.requests.append(record)
        try:
            if bot is None:
                raise UNAUTHORIZED
            handler = REGISTRY.get(method.lower())
            if handler is None:
                if self.method_exists(method):
                    logger.warning("Bot called %s, which the sandbox does not implement", method)
                    raise bad_request("method not supported by the sandbox")
                raise NOT_FOUND
            canonical = handler.__name__
            if self.spec is not None:
                self._check_spec(canonical, values, params.files)
            outcome = handler(Call(self, bot, params, canonical, read_timeout))
            if inspect.isawaitable(outcome):
                outcome = await outcome
            result = outcome if isinstance(outcome, Result) else Result(outcome)
            body: JSON = {"ok": True, "result": result.value}
            if result.description:
                body["description"] = result.description
            answer = Answer(200, body)
        except ApiError as error:
            if isinstance(error, Violation):
                self.violations.append(f"{method}: {error.description}")
            answer = Answer(error.code, error.body())
        except Exception as error:  # a sandbox bug must not look like a Telegram answer
            logger.exception("Sandbox failed while serving %s", method)
            self.internal_errors.append(f"{method}: {error!r}")
            answer = Answer(
                500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}
            )
        record.status = answer.status
        record.description = answer.body.get("description")
        self.notify()
        if fault == "drop":
            answer.action = "drop"
        return answer

    def _check_spec(self, method: str, values: dict[str, Any], files: dict[str, Upload]) -> None:
        assert self.spec is not None
        report = self.spec.check_request(method, values, files)
        for remark in report.remarks:
            self.violations.append(f"{method}: {remark}")
        if report.errors:
            for error in report.errors:
                self.violations.append(f"{method}: {error}")
            raise ApiError(400, f"Bad Request: {report.answer}")

    def download(self, token: str, path: str) -> tuple[int, bytes]:
        """Serve a file download from /file/bot<token>/<path>."""
        if self.authenticate(token) is None:
            return 401, json.dumps(UNAUTHORIZED.body()).encode()
        stored = self.files.by_path.get(path)
        if stored is None:
            return 404, json.dumps(NOT_FOUND.body()).encode()
        return 200, stored.content

    # ----------------------------------------------------------------- accounts and chats

    def add_bot(
        self,
        token: str,
        username: str | None = None,
        first_name: str = "Carebot",
        privacy: bool = True,
    ) -> BotAccount:
        """Register a bot account for ``token`` (tokens are otherwise registered on first use)."""
        match = TOKEN_PATTERN.match(token)
        if not match:
            raise ValueError(f"malformed bot token: {token!r}")
        bot_id = int(match.group(1))
        bot = BotAccount(
            id=bot_id,
            token=token,
            first_name=first_name,
            username=username or f"carebot_{bot_id}_bot",
            privacy=privacy,
        )
        self.bots[bot_id] = bot
        self.notify()
        return bot

    def bot(self, which: BotAccount | str | int | None = None) -> BotAccount:
        """Resolve a bot by account, token or id; by default the one bot (or the first)."""
        if isinstance(which, BotAccount):
            return which
        if isinstance(which, str):
            found = self.authenticate(which)
            if found is None:
                raise ValueError("token rejected by the sandbox")
            return found
        if isinstance(which, int):
            return self.bots[which]
        if self.fixed_token is not None:
            return self.bot(self.fixed_token)
        if not self.bots:
            raise LookupError("no bot yet: call add_bot(token) or let the bot call getMe first")
        return next(iter(self.bots.values()))

    def add_user(
        self,
        first_name: str,
        language_code: str | None = "en",
        username: str | None = None,
        last_name: str | None = None,
        phone_number: str | None = None,
        started: bool = True,
    ) -> User:
        """Create a human account; ``started=False`` means bots may not write to it first."""
        user = User(
            id=self._next_user_id,
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
            phone_number=phone_number,
            started_by_default=started,
        )
        self._next_user_id += 1
        self.users[user.id] = user
        self.chats[user.id] = Chat(id=user.id, type="private")
        self.notify()
        return user

    def add_group(
        self,
        title: str,
        members: Iterable[User] = (),
        bot_admin: bool = True,
        admins: Iterable[User] = (),
        owner: User | None = None,
    ) -> int:
        """Create a basic group with the bots in it (as admins unless ``bot_admin=False``)."""
        chat = Chat(id=self._next_group_id, type="group", title=title)
        self._next_group_id -= 1
        bot_member = Member(0, "administrator", AdminRights()) if bot_admin else Member(0)
        return self._populate(chat, members, admins, owner, bot_member)

    def add_forum(
        self,
        title: str,
        members: Iterable[User] = (),
        bot_rights: AdminRights | None = AdminRights(),  # noqa: B008 - never mutated
        admins: Iterable[User] = (),
        owner: User | None = None,
    ) -> int:
        """Create a forum supergroup; the bots are admins with ``bot_rights`` (None: member)."""
        chat = Chat(id=self._next_supergroup_id, type="supergroup", title=title, is_forum=True)
        self._next_supergroup_id -= 1
        bot_member = Member(0, "administrator", bot_rights) if bot_rights is not None else Member(0)
        return self._populate(chat, members, admins, owner, bot_member)

    def add_supergroup(
        self,
        title: str,
        members: Iterable[User] = (),
        bot_admin: bool = True,
        admins: Iterable[User] = (),
    ) -> int:
        """Create a supergroup without topics."""
        chat = Chat(id=self._next_supergroup_id, type="supergroup", title=title)
        self._next_supergroup_id -= 1
        bot_member = Member(0, "administrator", AdminRights()) if bot_admin else Member(0)
        return self._populate(chat, members, admins, None, bot_member)

    def _populate(
        self,
        chat: Chat,
        members: Iterable[User],
        admins: Iterable[User],
        owner: User | None,
        bot_member: Member,
    ) -> int:
        chat.bot_default = bot_member
        # Id 1 went to the chat's creation (and in forums means the General topic).
        chat.next_message_id = 2
        if owner is not None:
            chat.members[owner.id] = Member(owner.id, "creator")
        for admin in admins:
            chat.members[admin.id] = Member(admin.id, "administrator", AdminRights())
        for user in members:
            chat.members.setdefault(user.id, Member(user.id))
        self.chats[chat.id] = chat
        self.notify()
        return chat.id

    def add_member(
        self, chat_id: int, user: User, status: str = "member", rights: AdminRights | None = None
    ) -> Member:
        """Put a user into a group with the given status."""
        if status == "administrator" and rights is None:
            rights = AdminRights()
        member = Member(user.id, status, rights)
        self.chats[chat_id].members[user.id] = member
        self.notify()
        return member

    def set_bot_member(
        self, chat_id: int, status: str, rights: AdminRights | None = None, bot: Any = None
    ) -> None:
        """Change a bot's standing in a group (e.g. demote it or kick it)."""
        account = self.bot(bot)
        self.chats[chat_id].members[account.id] = Member(account.id, status, rights)
        self.notify()

    def member(self, chat: Chat, account_id: int) -> Member:
        """The standing of a user or bot in a group ("left" when unknown)."""
        found = chat.members.get(account_id)
        if found is not None:
            return found
        if account_id in self.bots and chat.bot_default is not None:
            template = chat.bot_default
            return Member(account_id, template.status, template.rights)
        return Member(account_id, "left")

    def account(self, account_id: int) -> User | BotAccount:
        """A user or bot by id."""
        if account_id in self.users:
            return self.users[account_id]
        return self.bots[account_id]

    def chat_by_ref(self, ref: int | str) -> Chat | None:
        """Find a chat by id or @username."""
        if isinstance(ref, str) and ref.startswith("@"):
            wanted = ref[1:].lower()
            for chat in self.chats.values():
                if chat.username and chat.username.lower() == wanted:
                    return chat
            return None
        try:
            return self.chats.get(int(ref))
        except ValueError:
            return None

    # ----------------------------------------------------------------- messages

    def now(self) -> int:
        """Unix time for message dates."""
        return int(time.time())

    def new_message(self, chat: Chat, sender: User | BotAccount, **content: Any) -> StoredMessage:
        """Store a new message in ``chat`` with the next message id."""
        message = StoredMessage(
            chat_id=chat.id,
            message_id=chat.next_message_id,
            date=self.now(),
            sender_id=sender.id,
            from_bot=sender.is_bot,
            **content,
        )
        chat.next_message_id += 1
        chat.messages[message.message_id] = message
        self.notify()
        return message

    def find_message(self, chat: Chat, message_id: int | None) -> StoredMessage | None:
        """A live (not deleted) message, or None."""
        if message_id is None:
            return None
        found = chat.messages.get(message_id)
        return found if found is not None and not found.deleted else None

    def resolve_thread(
        self,
        chat: Chat,
        thread_id: int | None,
        reply_to: StoredMessage | None,
        sender: Member,
    ) -> tuple[int | None, bool]:
        """Work out (message_thread_id, is_topic_message) for a new message."""
        if not chat.is_forum:
            return None, False
        if thread_id in (None, GENERAL_TOPIC):
            if reply_to is None or not reply_to.is_topic_message:
                return None, False
            # A reply lands in the topic of the message it answers, as on Telegram.
            thread_id = reply_to.message_thread_id
        topic = chat.topics.get(thread_id or 0)
        if topic is None or topic.deleted:
            raise bad_request("message thread not found")
        if topic.closed and not sender.can("can_manage_topics"):
            raise bad_request("TOPIC_CLOSED")
        return thread_id, True

    def render(self, message: StoredMessage, with_reply: bool = True) -> JSON:
        """The Bot API Message object for a stored message."""
        chat = self.chats[message.chat_id]
        sender = self.account(message.sender_id)
        data: JSON = {
            "message_id": message.message_id,
            "from": sender.to_api(),
            "chat": chat.to_api(self.users.get(chat.id)),
            "date": message.date,
        }
        if message.message_thread_id is not None:
            data["message_thread_id"] = message.message_thread_id
        if message.is_topic_message:
            data["is_topic_message"] = True
        if message.forward_origin:
            data["forward_origin"] = message.forward_origin
        if with_reply:
            target_id = message.reply_to_message_id
            if target_id is None and message.is_topic_message:
                # Topic messages point at the topic's creation message unless they reply.
                target_id = message.message_thread_id
            if target_id is not None and target_id != message.message_id:
                target_chat = self.chats.get(message.reply_to_chat_id or message.chat_id)
                target = self.find_message(target_chat, target_id) if target_chat else None
                if target is not None:
                    data["reply_to_message"] = self.render(target, with_reply=False)
        if message.quote:
            data["quote"] = message.quote
        if message.edit_date:
            data["edit_date"] = message.edit_date
        if message.has_protected_content:
            data["has_protected_content"] = True
        if message.media_group_id:
            data["media_group_id"] = message.media_group_id
        if message.text is not None:
            data["text"] = message.text
            if message.entities:
                data["entities"] = message.entities
        data.update(message.media)
        if message.caption is not None:
            data["caption"] = message.caption
            if message.caption_entities:
                data["caption_entities"] = message.caption_entities
        markup = message.reply_markup
        if markup and "inline_keyboard" in markup:
            # Only inline keyboards are part of a Message; reply keyboards live in the client.
            data["reply_markup"] = markup
        return data

    # ----------------------------------------------------------------- updates

    def enqueue(self, bot: BotAccount, kind: str, payload: JSON) -> JSON | None:
        """Queue an update for a bot, honouring its allowed_updates; return it if queued."""
        allowed = bot.allowed_updates
        if allowed:
            if kind not in allowed:
                return None
        elif kind in _OPT_IN_UPDATES:
            return None
        update = {"update_id": bot.next_update_id, kind: payload}
        bot.next_update_id += 1
        bot.updates.append(update)
        self.notify()
        return update

    def take_updates(self, bot: BotAccount | str | int | None = None) -> list[JSON]:
        """Return and confirm all pending updates of a bot (for harnesses calling process_update)."""
        account = self.bot(bot)
        updates, account.updates = account.updates, []
        self.notify()
        return updates

    def pending_updates(self, bot: BotAccount | str | int | None = None) -> list[JSON]:
        """Peek at a bot's unconfirmed updates."""
        return list(self.bot(bot).updates)

    def _audience(self, message: StoredMessage, bot: BotAccount | None) -> list[BotAccount]:
        chat = self.chats[message.chat_id]
        if chat.type == "private":
            return [bot or self.bot()]
        audience = []
        for account in self.bots.values():
            member = self.member(chat, account.id)
            if not member.present or account.id == message.sender_id:
                continue
            if (
                account.privacy
                and member.status != "administrator"
                and not self._addressed(message, account)
            ):
                continue
            audience.append(account)
        return audience

    def _addressed(self, message: StoredMessage, bot: BotAccount) -> bool:
        """Whether a group message reaches a bot in privacy mode."""
        text = message.body or ""
        if text.startswith("/"):
            command = text.split()[0]
            return "@" not in command or command.lower().endswith("@" + bot.username.lower())
        if f"@{bot.username}".lower() in text.lower():
            return True
        chat = self.chats[message.chat_id]
        replied = self.find_message(chat, message.reply_to_message_id)
        return message.service or (replied is not None and replied.sender_id == bot.id)

    def deliver(
        self, message: StoredMessage, kind: str = "message", bot: BotAccount | None = None
    ) -> JSON | None:
        """Queue a user's message for every bot that would see it; return the first update."""
        first = None
        for account in self._audience(message, bot):
            update = self.enqueue(account, kind, self.render(message))
            first = first or update
        return first

    def webhook_client(self) -> httpx.AsyncClient:
        """The HTTP client used for webhook deliveries."""
        if self._http_client is None:
            self._http_client = httpx.AsyncClient()
        return self._http_client

    def start_webhook(self, bot: BotAccount) -> None:
        """Start (or restart) delivering a bot's updates to its webhook."""
        old = self._webhook_tasks.pop(bot.id, None)
        if old is not None:
            old.cancel()
        self._webhook_tasks[bot.id] = asyncio.get_running_loop().create_task(
            deliver_forever(self, bot), name=f"sandbox-webhook-{bot.id}"
        )

    def stop_webhook(self, bot: BotAccount) -> None:
        """Stop webhook delivery for a bot."""
        task = self._webhook_tasks.pop(bot.id, None)
        if task is not None:
            task.cancel()

    # ----------------------------------------------------------------- topics

    def open_topic(
        self,
        chat: Chat,
        creator: User | BotAccount,
        name: str,
        icon_color: int | None = None,
        icon_custom_emoji_id: str | None = None,
    ) -> tuple[Topic, StoredMessage]:
        """Create a topic and its service message (whose id becomes the thread id)."""
        thread_id = chat.next_message_id
        topic = Topic(
            thread_id,
            name,
            icon_color or TOPIC_COLORS[0],
            icon_custom_emoji_id,
            creator_id=creator.id,
        )
        chat.topics[thread_id] = topic
        created: JSON = {"name": name, "icon_color": topic.icon_color}
        if icon_custom_emoji_id:
            created["icon_custom_emoji_id"] = icon_custom_emoji_id
        message = self.new_message(
            chat,
            creator,
            kind="forum_topic_created",
            media={"forum_topic_created": created},
            message_thread_id=thread_id,
            is_topic_message=True,
            service=True,
        )
        return topic, message

    def topic_service(
        self, chat: Chat, actor: User | BotAccount, topic: Topic, kind: str, payload: JSON
    ) -> StoredMessage:
        """Post a topic service message (closed, reopened, edited)."""
        return self.new_message(
            chat,
            actor,
            kind=kind,
            media={kind: payload},
            message_thread_id=topic.thread_id,
            is_topic_message=True,
            service=True,
        )

    def remove_topic(self, chat: Chat, topic: Topic) -> None:
        """Delete a topic with all its messages."""
        topic.deleted = True
        for message in chat.messages.values():
            if message.message_thread_id == topic.thread_id:
                message.deleted = True
        self.notify()

    # ----------------------------------------------------------------- driver: user actions

    def _chat_for(self, user: User, chat_id: int | None, bot: BotAccount | None) -> Chat:
        if chat_id is None or chat_id == user.id:
            account = bot or self.bot()
            if account.id in user.blocked_bots:
                raise ValueError(f"{user.first_name} blocked the bot; call unblock_bot first")
            return self.chats[user.id]
        chat = self.chats.get(chat_id)
        if chat is None:
            raise ValueError(f"no chat {chat_id}")
        if not self.member(chat, user.id).present:
            raise ValueError(f"{user.first_name} is not a member of {chat.title!r}")
        return chat

    def _post_as_user(
        self,
        user: User,
        chat_id: int | None,
        thread_id: int | None,
        reply_to: StoredMessage | int | None,
        bot: Any,
        quote: str | None = None,
        update_kind: str = "message",
        **content: Any,
    ) -> Delivered:
        account = self.bot(bot) if bot is not None or chat_id in (None, user.id) else None
        chat = self._chat_for(user, chat_id, account)
        target = None
        if reply_to is not None:
            target_id = reply_to if isinstance(reply_to, int) else reply_to.message_id
            target = self.find_message(chat, target_id)
            if target is None:
                raise ValueError(f"no message {target_id} in chat {chat.id}")
        member = self.member(chat, user.id) if chat.is_group else Member(user.id)
        try:
            thread, in_topic = self.resolve_thread(chat, thread_id, target, member)
        except ApiError as error:
            raise ValueError(error.description) from None
        quote_data = None
        if quote is not None:
            body = (target.body if target else None) or ""
            if quote not in body:
                raise ValueError("quote must be a part of the replied message")
            quote_data = {
                "text": quote,
                "position": utf16_len(body[: body.index(quote)]),
                "is_manual": True,
            }
        message = self.new_message(
            chat,
            user,
            message_thread_id=thread,
            is_topic_message=in_topic,
            reply_to_message_id=target.message_id if target else None,
            quote=quote_data,
            **content,
        )
        if chat.type == "private":
            user.started_bots.add((account or self.bot()).id)
        return Delivered(message, self.deliver(message, update_kind, account))

    def send_text(
        self,
        user: User,
        text: str,
        chat_id: int | None = None,
        thread_id: int | None = None,
        reply_to: StoredMessage | int | None = None,
        quote: str | None = None,
        entities: list[JSON] | None = None,
        bot: Any = None,
    ) -> Delivered:
        """The user sends a text message (to the bot's private chat unless ``chat_id``)."""
        return self._post_as_user(
            user,
            chat_id,
            thread_id,
            reply_to,
            bot,
            quote=quote,
            text=text,
            entities=detect_entities(text, entities),
        )

    def send_contact(
        self,
        user: User,
        phone_number: str | None = None,
        contact_user_id: int | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        chat_id: int | None = None,
        bot: Any = None,
    ) -> Delivered:
        """The user shares a contact; by default their own (as a request_contact button does)."""
        phone = phone_number or user.phone_number
        if not phone:
            raise ValueError("send_contact needs a phone number")
        contact: JSON = {
            "phone_number": phone,
            "first_name": first_name or user.first_name,
            "user_id": contact_user_id if contact_user_id is not None else user.id,
        }
        if last_name or (first_name is None and user.last_name):
            contact["last_name"] = last_name or user.last_name
        return self._post_as_user(
            user, chat_id, None, None, bot, kind="contact", media={"contact": contact}
        )

    def send_location(
        self,
        user: User,
        latitude: float,
        longitude: float,
        chat_id: int | None = None,
        thread_id: int | None = None,
        bot: Any = None,
    ) -> Delivered:
        """The user shares a location."""
        return self._post_as_user(
            user,
            chat_id,
            thread_id,
            None,
            bot,
            media={"location": {"latitude": latitude, "longitude": longitude}},
            kind="location",
        )

    def _user_file_content(
        self, kind: str, data: bytes, caption: str | None, **details: Any
    ) -> JSON:
        content: JSON = {}
        if kind == "photo":
            sizes = self.files.add_photo(data)
            content["media"] = {"photo": sizes}
            content["file_ids"] = [size["file_id"] for size in sizes]
        else:
            extra = {k: v for k, v in details.items() if k in {"emoji", "performer", "title"}}
            stored = self.files.add(
                kind, data, **{k: v for k, v in details.items() if k not in extra}
            )
            content["media"] = {kind: self.files.payload(stored, **extra)}
            content["file_ids"] = [stored.file_id]
        if caption is not None:
            content["caption"] = caption
            content["caption_entities"] = detect_entities(caption)
        content["kind"] = kind
        return content

    def _send_file(
        self,
        user: User,
        kind: str,
        data: bytes,
        caption: str | None,
        chat_id: int | None,
        thread_id: int | None,
        reply_to: StoredMessage | int | None,
        bot: Any,
        **details: Any,
    ) -> Delivered:
        content = self._user_file_content(kind, data, caption, **details)
        return self._post_as_user(user, chat_id, thread_id, reply_to, bot, **content)

    def send_photo(
        self,
        user: User,
        data: bytes = b"\xff\xd8sandbox-photo",
        caption: str | None = None,
        chat_id: int | None = None,
        thread_id: int | None = None,
        reply_to: StoredMessage | int | None = None,
        bot: Any = None,
    ) -> Delivered:
        """The user sends a photo (PNG/JPEG dimensions are read from ``data`` when present)."""
        return self._send_file(user, "photo", data, caption, chat_id, thread_id, reply_to, bot)

    def send_document(
        self,
        user: User,
        data: bytes = b"%PDF-1.4 sandbox",
        file_name: str = "document.pdf",
        mime_type: str = "application/pdf",
        caption: str | None = None,
        chat_id: int | None = None,
        thread_id: int | None = None,
        reply_to: StoredMessage | int | None = None,
        bot: Any = None,
    ) -> Delivered:
        """The user sends a document."""
        return self._send_file(
            user,
            "document",
            data,
            caption,
            chat_id,
            thread_id,
            reply_to,
            bot,
            file_name=file_name,
            mime_type=mime_type,
        )

    def send_voice(
        self,
        user: User,
        data: bytes = b"OggS sandbox-voice",
        duration: int = 3,
        caption: str | None = None,
        chat_id: int | None = None,
        thread_id: int | None = None,
        reply_to: StoredMessage | int | None = None,
        bot: Any = None,
    ) -> Delivered:
        """The user sends a voice note."""
        return self._send_file(
            user,
            "voice",
            data,
            caption,
            chat_id,
            thread_id,
            reply_to,
            bot,
            duration=duration,
            mime_type="audio/ogg",
        )

    def send_video(
        self,
        user: User,
        data: bytes = b"\x00\x00\x00\x18ftypmp42 sandbox",
        duration: int = 5,
        width: int = 1280,
        height: int = 720,
        caption: str | None = None,
        chat_id: int | None = None,
        thread_id: int | None = None,
        reply_to: StoredMessage | int | None = None,
        bot: Any = None,
    ) -> Delivered:
        """The user sends a video."""
        return self._send_file(
            user,
            "video",
            data,
            caption,
            chat_id,
            thread_id,
            reply_to,
            bot,
            duration=duration,
            width=width,
            height=height,
            mime_type="video/mp4",
        )

    def send_sticker(
        self,
        user: User,
        emoji: str = "👍",
        chat_id: int | None = None,
        thread_id: int | None = None,
        bot: Any = None,
    ) -> Delivered:
        """The user sends a sticker."""
        return self._send_file(
            user,
            "sticker",
            b"RIFF sandbox-sticker WEBP",
            None,
            chat_id,
            thread_id,
            None,
            bot,
            emoji=emoji,
            width=512,
            height=512,
        )

    def send_album(
        self,
        user: User,
        items: Sequence[bytes | tuple[str, bytes]],
        caption: str | None = None,
        chat_id: int | None = None,
        thread_id: int | None = None,
        bot: Any = None,
    ) -> list[Delivered]:
        """The user sends 2-10 photos/videos as one album; each item arrives as its own update."""
        if not 2 <= len(items) <= 10:
            raise ValueError("an album has 2-10 items")
        group_id = str(secrets.randbelow(10**18) + 10**17)
        delivered = []
        for index, item in enumerate(items):
            kind, data = ("photo", item) if isinstance(item, bytes) else item
            content = self._user_file_content(kind, data, caption if index == 0 else None)
            delivered.append(
                self._post_as_user(
                    user, chat_id, thread_id, None, bot, media_group_id=group_id, **content
                )
            )
        return delivered

    def edit_text(
        self, user: User, message: StoredMessage, text: str, bot: Any = None
    ) -> Delivered:
        """The user edits one of their text messages; the bot gets an edited_message update."""
        if message.sender_id != user.id or message.text is None:
            raise ValueError("users can only edit their own text messages")
        message.history.append(message.snapshot())
        message.text = text
        message.entities = detect_entities(text)
        message.edit_date = self.now()
        self.notify()
        account = self.bot(bot) if message.chat_id == user.id else None
        return Delivered(message, self.deliver(message, "edited_message", account))

    def press_button(
        self, user: User, message: StoredMessage, callback_data: str, forge: bool = False
    ) -> Delivered:
        """The user presses an inline button; data not on the keyboard is refused unless forged."""
        if not forge and callback_data not in message.callback_data:
            raise ValueError(
                f"message {message.message_id} has no button with callback_data "
                f"{callback_data!r} (buttons: {message.callback_data}); pass forge=True to send "
                "it anyway"
            )
        if not message.from_bot:
            raise ValueError("only bot messages carry inline keyboards")
        bot = self.bots[message.sender_id]
        chat = self.chats[message.chat_id]
        if chat.is_group and not self.member(chat, user.id).present:
            raise ValueError(f"{user.first_name} cannot see messages in {chat.title!r}")
        query = CallbackQuery(
            id=str(secrets.randbelow(10**18) + 10**18),
            bot_id=bot.id,
            user_id=user.id,
            chat_id=chat.id,
            message_id=message.message_id,
            data=callback_data,
        )
        self.queries[query.id] = query
        payload = {
            "id": query.id,
            "from": user.to_api(),
            "message": self.render(message),
            "chat_instance": str(abs(chat.id * 7919 + bot.id) % 10**19),
            "data": callback_data,
        }
        return Delivered(message, self.enqueue(bot, "callback_query", payload), query.id)

    def _membership_update(self, user: User, bot: BotAccount, old: str, new: str) -> JSON | None:
        bot_member: JSON = {"user": bot.to_api()}
        payload = {
            "chat": self.chats[user.id].to_api(user),
            "from": user.to_api(),
            "date": self.now(),
            "old_chat_member": {**bot_member, "status": old},
            "new_chat_member": {**bot_member, "status": new},
        }
        if new == "kicked":
            payload["new_chat_member"]["until_date"] = 0
        if old == "kicked":
            payload["old_chat_member"]["until_date"] = 0
        return self.enqueue(bot, "my_chat_member", payload)

    def block_bot(self, user: User, bot: Any = None) -> JSON | None:
        """The user blocks the bot: sends to them now fail with 403; returns the my_chat_member."""
        account = self.bot(bot)
        user.blocked_bots.add(account.id)
        return self._membership_update(user, account, "member", "kicked")

    def unblock_bot(self, user: User, bot: Any = None) -> JSON | None:
        """The user unblocks (restarts) the bot."""
        account = self.bot(bot)
        user.blocked_bots.discard(account.id)
        return self._membership_update(user, account, "kicked", "member")

    def create_topic(
        self, chat_id: int, name: str, by: User, icon_color: int | None = None
    ) -> Delivered:
        """A human creates a forum topic; bots see the service message."""
        chat = self.chats[chat_id]
        _, message = self.open_topic(chat, by, name, icon_color)
        return Delivered(message, self.deliver(message))

    def close_topic(self, chat_id: int, thread_id: int, by: User) -> Delivered:
        """A human admin closes a topic."""
        chat = self.chats[chat_id]
        topic = chat.topics[thread_id]
        topic.closed = True
        message = self.topic_service(chat, by, topic, "forum_topic_closed", {})
        return Delivered(message, self.deliver(message))

    def delete_topic(self, chat_id: int, thread_id: int, by: User | None = None) -> None:
        """A human admin deletes a topic; Telegram sends bots no update for this."""
        chat = self.chats[chat_id]
        topic = chat.topics.get(thread_id)
        if topic is None or topic.deleted:
            raise ValueError(f"no topic {thread_id} in chat {chat_id}")
        self.remove_topic(chat, topic)

    # ----------------------------------------------------------------- inspection

    def messages(
        self,
        chat_id: int,
        thread_id: int | None = None,
        from_bot: bool | None = None,
        include_deleted: bool = False,
    ) -> list[StoredMessage]:
        """Messages of a chat in order; ``thread_id=1`` selects the General topic."""
        chat = self.chats.get(chat_id)
        if chat is None:
            return []
        found = []
        for message in chat.messages.values():
            if message.deleted and not include_deleted:
                continue
            if from_bot is not None and message.from_bot != from_bot:
                continue
            if thread_id is not None:
                wanted = None if thread_id == GENERAL_TOPIC else thread_id
                if message.message_thread_id != wanted:
                    continue
            found.append(message)
        return found

    def message(self, chat_id: int, message_id: int) -> StoredMessage:
        """One message by id (deleted ones included)."""
        return self.chats[chat_id].messages[message_id]

    def last_message(self, chat_id: int, from_bot: bool | None = True) -> StoredMessage | None:
        """The newest live message in a chat, by default the newest from a bot."""
        found = self.messages(chat_id, from_bot=from_bot)
        return found[-1] if found else None

    def topics(self, chat_id: int, include_deleted: bool = False) -> list[Topic]:
        """Topics of a forum."""
        return [t for t in self.chats[chat_id].topics.values() if include_deleted or not t.deleted]

    def keyboard(self, chat_id: int) -> JSON | None:
        """The reply keyboard a private chat currently shows, if any."""
        return self.chats[chat_id].reply_keyboard

    def calls(self, method: str) -> list[RequestRecord]:
        """Logged requests of one method (case-insensitive)."""
        return [r for r in self.requests if r.method.lower() == method.lower()]

    def summary(self) -> JSON:
        """A JSON overview of the state, for humans and the control API."""
        return {
            "bots": [
                {
                    **b.to_api(),
                    "pending_updates": len(b.updates),
                    "webhook": b.webhook.url if b.webhook else None,
                }
                for b in self.bots.values()
            ],
            "users": [u.to_api() for u in self.users.values()],
            "chats": [
                {
                    **c.to_api(self.users.get(c.id)),
                    "messages": sum(1 for m in c.messages.values() if not m.deleted),
                    "topics": [
                        t.to_api() | {"closed": t.closed}
                        for t in c.topics.values()
                        if not t.deleted
                    ],
                }
                for c in self.chats.values()
            ],
            "requests": len(self.requests),
            "violations": self.violations,
            "rate_limited": self.rate_limited,
            "faults": dict(self.faults.counts),
        }
