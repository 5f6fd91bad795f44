"""The relay's sender: the queued posts for advisor groups go out in order, paced, none lost.

One task per configured group takes the group's next post (bot/relay_queue.py), waits its turn
in the `GroupPacer` (about 20 posts a minute, about one a second), and sends it into the
customer's topic, creating the topic with the customer card on first contact, re-creating it
when someone deleted it, reopening it when the customer writes after /close. In a group without
topics every post carries a header naming the customer. A 429 holds that group for its
retry_after and the same post goes again; nothing else is held up. Requests are marked PACED
so PTB's limiter neither paces them a second time nor stalls the whole bot on their 429s.

`post_now` is the way in for posts that a handler would like to see in the group at once (a
booking card): it queues the post like any other and sends it straight away when it is the
group's next one and the pacer has room within a moment; otherwise the group's task sends it.
"""

import asyncio
import contextlib
import datetime as dt
import logging
import os
import secrets
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Bot, InlineKeyboardMarkup, Message, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.context import Carebot
from bot.customer_card import customer_card
from bot.db import transaction
from bot.group_pacing import GroupPacer
from bot.handlers.relay_views import card_text, header
from bot.models import AdvisorThread, Customer, LinkDirection
from bot.rate_limits import PACED
from bot.relay import (
    assign_thread,
    copies_in_group,
    forget_topic,
    group_counterpart,
    record_links,
    set_card,
    set_closed,
    set_topic,
    thread_of,
    topic_name,
)
from bot.relay_queue import (
    Merge,
    PostKind,
    QueuedPost,
    Waiting,
    claim_post,
    enqueue,
    extend_lease,
    mark_failed,
    mark_sent,
    posted_parts,
    release,
    release_owned,
)
from bot.vehicles import customer_vehicles

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Posts that carry a customer's own message: they reopen a closed topic.
_FROM_CUSTOMER = (PostKind.TEXT, PostKind.COPY, PostKind.ALBUM)
# Room left for the header in a plain group (a name, two plates and the customer number).
_HEADER_CHARS = 200
_TEXT_LIMIT = 4096
_CAPTION_LIMIT = 1024
# Tries of a post that fails in a way nobody foresaw, before it is given up as failed.
MAX_ATTEMPTS = 5


class NoRoom(Exception):
    """The post may not go within the wait its caller accepts."""


@dataclass(frozen=True)
class Place:
    """Where a customer's posts go: a topic, or a plain group with a header per post."""

    chat_id: int
    topic_id: int | None
    header: str | None  # set in plain groups


@dataclass
class Posted:
    main_id: int | None
    pairs: list[tuple[int, int]] = field(default_factory=list)
    message: Message | None = None


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def message_key(chat_id: int, message_id: int) -> str:
    """The queue key of a customer's message: an update delivered twice is queued once."""
    return f"relay:{chat_id}:{message_id}"


def notice_key() -> str:
    return f"relay:notice:{uuid.uuid4().hex}"


class RelaySender:
    """Sends the relay queue of every configured advisor group."""

    def __init__(
        self,
        bot: Bot,
        carebot: Carebot,
        pacer: GroupPacer,
        *,
        poll_seconds: float = 5,
        inline_wait_seconds: float = 3,
    ) -> None:
        self.bot = bot
        self.carebot = carebot
        self.pacer = pacer
        self.clock = pacer.clock
        self.groups = carebot.settings.advisor_chat_ids
        relay = carebot.store.relay
        self.merge = Merge(seconds=relay.merge_seconds, max_chars=relay.merge_max_chars)
        self.lease = dt.timedelta(seconds=relay.lease_seconds)
        self.network_tries = relay.network_tries
        self.retry_later = dt.timedelta(seconds=relay.retry_later_seconds)
        self.poll_seconds = poll_seconds
        self.inline_wait = inline_wait_seconds
        # Fits outbox.lease_owner (64 characters).
        self.owner = f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"
        # 429 answers received for group posts (the benchmark reports them).
        self.rate_limited = 0
        self._wake: dict[int, asyncio.Event] = {chat_id: asyncio.Event() for chat_id in self.groups}
        self._forum: dict[int, bool] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._turns: dict[int, asyncio.Lock] = {chat_id: asyncio.Lock() for chat_id in self.groups}

    # --- the per-group tasks -----------------------------------------------------------------

    def start(self) -> None:
        for chat_id in self.groups:
            self._tasks.append(
                asyncio.get_running_loop().create_task(
                    self._run(chat_id), name=f"relay-sender-{chat_id}"
                )
            )

    async def stop(self) -> None:
        """Stop the tasks and hand back whatever they held, so a restart resumes at once."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        async with transaction(self.carebot.sessions) as session:
            await release_owned(session, self.owner)

    def wake(self, chat_id: int) -> None:
        """New work for a group (called after the commit that queued it)."""
        event = self._wake.get(chat_id)
        if event is not None:
            event.set()

    async def _run(self, chat_id: int) -> None:
        while True:
            try:
                outcome = await self.step(chat_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("relay sender for group %s failed; trying again", chat_id)
                outcome = Waiting(until=utc_now() + dt.timedelta(seconds=self.poll_seconds))
            if isinstance(outcome, Waiting):
                await self._idle(chat_id, outcome)

    async def _idle(self, chat_id: int, waiting: Waiting) -> None:
        if waiting.until is not None:
            timeout = max(0.0, (waiting.until - utc_now()).total_seconds())
        else:
            # Busy: another sender holds the group's post; its lease says when to look again.
            timeout = 0.2 if waiting.busy else self.poll_seconds
        event = self._wake[chat_id]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=min(timeout, self.poll_seconds))
        event.clear()

    async def step(
        self, chat_id: int, *, only_id: int | None = None, max_wait: float | None = None
    ) -> Posted | Waiting | None:
        """Send the group's next post; Waiting when there is none to take now.

        `max_wait` bounds the pacing wait (None: as long as it takes); over it the post goes
        back to the queue and None is returned.
        """
        if max_wait is None:
            while (wait := self.pacer.delay(chat_id)) > 0:
                await self.clock.sleep(wait)
        elif not await self._turn_free(chat_id, max_wait):
            self.wake(chat_id)
            return None
        # One post at a time per group in this process (the database sees to other processes);
        # a handler's post_now then finds the group's task done with its post, not racing it.
        async with self._turns[chat_id]:
            return await self._claim_and_deliver(chat_id, only_id, max_wait)

    async def _turn_free(self, chat_id: int, max_wait: float) -> bool:
        """Wait up to `max_wait` for the group's task to finish the post it is sending."""
        deadline = asyncio.get_running_loop().time() + max_wait
        while self._turns[chat_id].locked():
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    async def _claim_and_deliver(
        self, chat_id: int, only_id: int | None, max_wait: float | None
    ) -> Posted | Waiting | None:
        async with transaction(self.carebot.sessions) as session:
            claim = await claim_post(
                session,
                chat_id=chat_id,
                owner=self.owner,
                now=utc_now(),
                lease=self.lease,
                merge=self.merge,
                only_id=only_id,
            )
        if isinstance(claim, Waiting):
            return claim
        try:
            return await self._deliver(claim, max_wait)
        except NoRoom:
            async with transaction(self.carebot.sessions) as session:
                await release(session, claim.ids, utc_now())
            self.wake(chat_id)
            return None
        except Exception as error:
            # Back to the queue, a little later; a post that keeps failing stops blocking
            # the group's queue after a few tries.
            async with transaction(self.carebot.sessions) as session:
                if claim.attempts >= MAX_ATTEMPTS:
                    await mark_failed(session, claim.ids, f"unexpected error: {error!r}")
                else:
                    due = utc_now() + dt.timedelta(seconds=self.poll_seconds)
                    await release(session, claim.ids, due, "unexpected error")
            raise

    # --- the way in for handlers -------------------------------------------------------------

    async def queue_card(self, customer_id: int) -> None:
        """Queue a fresh customer card for the customer's topic (/card)."""
        async with transaction(self.carebot.sessions) as session:
            thread = await assign_thread(session, customer_id, self.groups)
            await enqueue(
                session,
                store_id=self.carebot.store_id,
                customer_id=customer_id,
                chat_id=thread.chat_id,
                kind=PostKind.CARD,
                payload={},
                key=notice_key(),
                due_at=utc_now(),
            )
        self.wake(thread.chat_id)

    async def queue_notice(
        self,
        customer_id: int,
        html: str,
        *,
        keyboard: InlineKeyboardMarkup | None = None,
        photo: str | None = None,
    ) -> tuple[int, int | None]:
        """Queue the bot's words about a customer for their topic; (group, row id)."""
        chat_id, row_id = await self._queue_notice(customer_id, html, keyboard, photo)
        self.wake(chat_id)
        return chat_id, row_id

    async def post_later(
        self, customer_id: int, html: str, *, key: str, customer_message_id: int | None = None
    ) -> None:
        """Queue a notice for the customer's topic without waiting for it to go out.

        `key` makes a repeat (the same care message reported twice) a no-op; the post is linked
        to `customer_message_id` in the customer's chat, so quotes of it map to the copy.
        """
        chat_id, _ = await self._queue_notice(
            customer_id, html, None, None, key=key, customer_message_id=customer_message_id
        )
        self.wake(chat_id)

    async def _queue_notice(
        self,
        customer_id: int,
        html: str,
        keyboard: InlineKeyboardMarkup | None,
        photo: str | None,
        *,
        key: str | None = None,
        customer_message_id: int | None = None,
    ) -> tuple[int, int | None]:
        async with transaction(self.carebot.sessions) as session:
            thread = await assign_thread(session, customer_id, self.groups)
            row_id = await enqueue(
                session,
                store_id=self.carebot.store_id,
                customer_id=customer_id,
                chat_id=thread.chat_id,
                kind=PostKind.NOTICE,
                payload={
                    "html": html,
                    "keyboard": keyboard.to_dict() if keyboard else None,
                    "photo": photo,
                    "customer_message_id": customer_message_id,
                },
                key=key or notice_key(),
                due_at=utc_now(),
            )
        return thread.chat_id, row_id

    async def post_now(
        self,
        customer: Customer,
        html: str,
        keyboard: InlineKeyboardMarkup | None = None,
        photo: str | None = None,
    ) -> Message | None:
        """Queue a notice and send it at once when it may; the Message, or None when queued."""
        chat_id, row_id = await self._queue_notice(customer.id, html, keyboard, photo)
        outcome = None
        if row_id is not None:
            outcome = await self.step(chat_id, only_id=row_id, max_wait=self.inline_wait)
        if isinstance(outcome, Posted):
            return outcome.message
        self.wake(chat_id)
        return None

    # --- one post ------------------------------------------------------------------------------

    async def _deliver(self, post: QueuedPost, max_wait: float | None) -> Posted | None:
        retries = 0
        network_failures = 0
        while True:
            try:
                posted = await self._send(post, max_wait)
            except RetryAfter as error:
                self.rate_limited += 1
                seconds = _seconds(error.retry_after)
                logger.info("group %s asks to wait %.0f s", post.chat_id, seconds)
                self.pacer.hold(post.chat_id, seconds)
                if max_wait is not None:
                    raise NoRoom from error
                await self._keep(post, seconds)
                continue
            except BadRequest as error:
                reason = error.message.lower()
                if "thread not found" in reason and retries < 3:
                    # Someone deleted the topic: a new one is made and the post goes there.
                    retries += 1
                    await self._topic_gone(post)
                    continue
                if "topic_closed" in reason and retries < 3:
                    retries += 1
                    await self._mark_closed(post)
                    continue
                logger.warning("group %s refused a post: %s", post.chat_id, error.message)
                async with transaction(self.carebot.sessions) as session:
                    await mark_failed(session, post.ids, error.message)
                return None
            except Forbidden as error:
                # The bot is not in the group (any more): keep the posts until it is again.
                logger.error("cannot post to advisor group %s: %s", post.chat_id, error.message)
                async with transaction(self.carebot.sessions) as session:
                    await release(
                        session, post.ids, utc_now() + dt.timedelta(minutes=5), error.message
                    )
                return None
            except NetworkError as error:
                if max_wait is not None:
                    raise NoRoom from error
                network_failures += 1
                if network_failures >= self.network_tries:
                    # Telegram is having a bad time: the post keeps its place at the head of
                    # the group's queue, so nothing behind it overtakes it, and waits.
                    logger.warning(
                        "posting to group %s failed %d times (%s); trying again in %s",
                        post.chat_id,
                        network_failures,
                        error,
                        self.retry_later,
                    )
                    async with transaction(self.carebot.sessions) as session:
                        await release(
                            session, post.ids, utc_now() + self.retry_later, f"network: {error}"
                        )
                    return None
                pause = min(60.0, 2.0**network_failures)
                logger.warning(
                    "posting to group %s failed (%s); again in %.0f s", post.chat_id, error, pause
                )
                await self._keep(post, pause)
                await self.clock.sleep(pause)
                continue
            async with transaction(self.carebot.sessions) as session:
                await mark_sent(session, post.ids, posted.main_id, utc_now())
                if posted.pairs:
                    await record_links(
                        session,
                        customer_id=post.customer_id,
                        group_chat_id=post.chat_id,
                        pairs=posted.pairs,
                        direction=LinkDirection.TO_GROUP,
                        outbox_id=post.ids[0],
                    )
            return posted

    async def _keep(self, post: QueuedPost, seconds: float) -> None:
        until = utc_now() + self.lease + dt.timedelta(seconds=seconds)
        async with transaction(self.carebot.sessions) as session:
            await extend_lease(session, post.ids, self.owner, until)

    async def _topic_gone(self, post: QueuedPost) -> None:
        async with transaction(self.carebot.sessions) as session:
            thread = await thread_of(session, post.customer_id)
            if thread is not None and thread.topic_id is not None:
                logger.info("topic %s of customer %s is gone", thread.topic_id, post.customer_id)
                await forget_topic(session, thread.id, thread.topic_id)

    async def _mark_closed(self, post: QueuedPost) -> None:
        async with transaction(self.carebot.sessions) as session:
            thread = await thread_of(session, post.customer_id)
            if thread is not None:
                await set_closed(session, thread.id, True)

    async def _send(self, post: QueuedPost, max_wait: float | None) -> Posted:
        async with transaction(self.carebot.sessions) as session:
            customer = await session.get_one(Customer, post.customer_id)
            thread = await assign_thread(session, post.customer_id, self.groups)
            plates = [v.plate for v in await customer_vehicles(session, customer.id) if v.plate]
        if thread.chat_id != post.chat_id:
            # The customer moved to another group (ADVISOR_CHAT_ID changed): follow them there.
            post = QueuedPost(
                post.ids, post.customer_id, thread.chat_id, post.kind, post.payloads, post.attempts
            )
        if post.kind is PostKind.TOPIC:
            return await self._rename_topic(thread, customer, plates)
        place = await self._place(
            thread,
            customer,
            plates,
            max_wait,
            reopen=post.kind in _FROM_CUSTOMER,
            card=post.kind is not PostKind.CARD,
        )
        if post.kind is PostKind.TEXT:
            return await self._post_text(post, place, max_wait)
        if post.kind is PostKind.COPY:
            return await self._post_copy(post, place, max_wait)
        if post.kind is PostKind.ALBUM:
            return await self._post_album(post, place, max_wait)
        if post.kind is PostKind.EDIT:
            return await self._post_edit(post, place, max_wait)
        if post.kind is PostKind.CARD:
            return await self._post_card(thread, customer, place, max_wait)
        return await self._post_notice(post, place, max_wait)

    # --- the customer's place --------------------------------------------------------------------

    async def _place(
        self,
        thread: AdvisorThread,
        customer: Customer,
        plates: list[str],
        max_wait: float | None,
        *,
        reopen: bool,
        card: bool = True,
    ) -> Place:
        """The customer's topic, created (with the card) when missing, reopened when closed."""
        chat_id = thread.chat_id
        if not await self._is_forum(chat_id):
            place = Place(chat_id, None, header(self.carebot, customer, plates))
        else:
            if thread.topic_id is None:
                thread = await self._open_topic(thread, customer, plates)
            elif thread.closed and reopen:
                try:
                    await self.bot.reopen_forum_topic(chat_id, thread.topic_id)
                except BadRequest as error:
                    if "not_modified" not in error.message.lower():
                        raise
                async with transaction(self.carebot.sessions) as session:
                    await set_closed(session, thread.id, False)
            place = Place(chat_id, thread.topic_id, None)
        if card and thread.card_message_id is None:
            try:
                await self._post_card(thread, customer, place, max_wait)
            except BadRequest as error:
                # The customer's message matters more than their card: it goes on without.
                if "thread not found" in error.message.lower():
                    raise
                logger.error("could not post the card of customer %s: %s", customer.id, error)
        return place

    async def _open_topic(
        self, thread: AdvisorThread, customer: Customer, plates: list[str]
    ) -> AdvisorThread:
        topic = await self.bot.create_forum_topic(
            thread.chat_id, topic_name(customer.id, customer.name, plates)
        )
        async with transaction(self.carebot.sessions) as session:
            won = await set_topic(session, thread.id, topic.message_thread_id)
            current = await thread_of(session, customer.id)
        assert current is not None
        if not won:
            # Another sender made the customer's topic first: theirs stays, this one goes.
            logger.info("customer %s got two topics; keeping %s", customer.id, current.topic_id)
            try:
                await self.bot.delete_forum_topic(thread.chat_id, topic.message_thread_id)
            except TelegramError as error:
                logger.warning("could not delete the spare topic: %s", error)
        return current

    async def _rename_topic(
        self, thread: AdvisorThread, customer: Customer, plates: list[str]
    ) -> Posted:
        """Name the topic after the customer's name and plates now; no topic, nothing to do."""
        topic_id = thread.topic_id
        if topic_id is None or not await self._is_forum(thread.chat_id):
            return Posted(main_id=None)
        name = topic_name(customer.id, customer.name, plates)
        try:
            await self._posting(
                thread.chat_id,
                1,
                None,
                lambda: self.bot.edit_forum_topic(thread.chat_id, topic_id, name=name),
            )
        except BadRequest as error:
            if "not_modified" not in error.message.lower():
                raise
        return Posted(main_id=None)

    async def queue_topic_name(self, session: AsyncSession, customer_id: int) -> int | None:
        """In the caller's transaction: rename the customer's topic, if they have one."""
        thread = await thread_of(session, customer_id)
        if thread is None or thread.topic_id is None:
            return None
        await enqueue(
            session,
            store_id=self.carebot.store_id,
            customer_id=customer_id,
            chat_id=thread.chat_id,
            kind=PostKind.TOPIC,
            payload={},
            key=notice_key(),
            due_at=utc_now(),
        )
        return thread.chat_id

    async def _is_forum(self, chat_id: int) -> bool:
        known = self._forum.get(chat_id)
        if known is None:
            chat = await self.bot.get_chat(chat_id)
            known = self._forum[chat_id] = bool(chat.is_forum)
        return known

    # --- posting ---------------------------------------------------------------------------------

    async def _posting(
        self,
        chat_id: int,
        count: int,
        max_wait: float | None,
        send: Callable[[], Awaitable[T]],
    ) -> T:
        """One request that puts `count` messages into a group, in its turn."""
        if max_wait is not None and self.pacer.delay(chat_id, count) > max_wait:
            raise NoRoom
        await self.pacer.take(chat_id, count)
        try:
            return await send()
        finally:
            self.pacer.settle(chat_id, count)

    async def _send_text(
        self,
        place: Place,
        html: str,
        max_wait: float | None,
        reply: ReplyParameters | None = None,
        keyboard: InlineKeyboardMarkup | None = None,
    ) -> Message:
        return await self._posting(
            place.chat_id,
            1,
            max_wait,
            lambda: without_bad_quote(
                reply,
                lambda parameters: self.bot.send_message(
                    place.chat_id,
                    html,
                    parse_mode=ParseMode.HTML,
                    message_thread_id=place.topic_id,
                    reply_parameters=parameters,
                    reply_markup=keyboard,
                    rate_limit_args=PACED,
                ),
            ),
        )

    async def _copy(
        self,
        place: Place,
        from_chat: int,
        message_id: int,
        max_wait: float | None,
        reply: ReplyParameters | None = None,
        caption: str | None = None,
    ) -> int:
        extra: dict[str, Any] = {}
        if caption is not None:
            extra = {"caption": caption, "parse_mode": ParseMode.HTML}
        copied = await self._posting(
            place.chat_id,
            1,
            max_wait,
            lambda: without_bad_quote(
                reply,
                lambda parameters: self.bot.copy_message(
                    place.chat_id,
                    from_chat,
                    message_id,
                    message_thread_id=place.topic_id,
                    reply_parameters=parameters,
                    rate_limit_args=PACED,
                    **extra,
                ),
            ),
        )
        return copied.message_id

    async def _reply_to(
        self, customer_id: int, payload: dict[str, Any], place: Place
    ) -> ReplyParameters | None:
        """The group-side message a customer's reply points at, with their quote."""
        replied = payload.get("reply_to")
        if replied is None:
            return None
        async with self.carebot.sessions() as session:
            counterpart = await group_counterpart(session, customer_id, replied)
        if counterpart is None or counterpart[0] != place.chat_id:
            return None
        return ReplyParameters(
            counterpart[1], quote=payload.get("quote"), allow_sending_without_reply=True
        )

    async def _post_text(self, post: QueuedPost, place: Place, max_wait: float | None) -> Posted:
        parts = post.payloads
        html = "\n".join(part["html"] for part in parts)
        chars = sum(int(part.get("chars", 0)) for part in parts) + len(parts)
        reply = await self._reply_to(post.customer_id, post.head, place)
        pairs: list[tuple[int, int]] = []
        if place.header is not None:
            if chars + _HEADER_CHARS <= _TEXT_LIMIT:
                html = f"{place.header}\n{html}"
            else:
                first = await self._send_text(place, place.header, max_wait, reply)
                pairs += [(part["message_id"], first.message_id) for part in parts]
                reply = ReplyParameters(first.message_id)
        message = await self._send_text(place, html, max_wait, reply)
        pairs += [(part["message_id"], message.message_id) for part in parts]
        return Posted(message.message_id, pairs, message)

    async def _post_copy(self, post: QueuedPost, place: Place, max_wait: float | None) -> Posted:
        payload = post.head
        source, from_chat = payload["message_id"], payload["from_chat"]
        reply = await self._reply_to(post.customer_id, payload, place)
        if place.header is None:
            copied = await self._copy(place, from_chat, source, max_wait, reply)
            return Posted(copied, [(source, copied)])
        caption_chars = int(payload.get("caption_chars", 0))
        if payload.get("captionable") and caption_chars + _HEADER_CHARS <= _CAPTION_LIMIT:
            caption = place.header
            if payload.get("caption_html"):
                caption = f"{caption}\n{payload['caption_html']}"
            copied = await self._copy(place, from_chat, source, max_wait, reply, caption)
            return Posted(copied, [(source, copied)])
        # A sticker, a location, a contact: the header goes first and the copy answers it.
        first = await self._send_text(place, place.header, max_wait, reply)
        copied = await self._copy(
            place, from_chat, source, max_wait, ReplyParameters(first.message_id)
        )
        return Posted(copied, [(source, first.message_id), (source, copied)])

    async def _post_album(self, post: QueuedPost, place: Place, max_wait: float | None) -> Posted:
        sources = sorted(payload["message_id"] for payload in post.payloads)
        from_chat = post.head["from_chat"]
        pairs: list[tuple[int, int]] = []
        if place.header is not None:
            # copyMessages takes no caption or reply: the header goes just before the album.
            first = await self._send_text(place, place.header, max_wait)
            pairs += [(source, first.message_id) for source in sources]
        copies = await self._posting(
            place.chat_id,
            len(sources),
            max_wait,
            lambda: self.bot.copy_messages(
                place.chat_id,
                from_chat,
                sources,
                message_thread_id=place.topic_id,
                rate_limit_args=PACED,
            ),
        )
        pairs += list(zip(sources, [copy.message_id for copy in copies], strict=True))
        return Posted(copies[0].message_id if copies else None, pairs)

    async def _post_edit(self, post: QueuedPost, place: Place, max_wait: float | None) -> Posted:
        """A customer's edit: the copy changes, or a marked new post where it cannot."""
        payload = post.head
        source = payload["message_id"]
        async with self.carebot.sessions() as session:
            copies = [
                c
                for c in await copies_in_group(session, post.customer_id, source)
                if c[0] == place.chat_id
            ]
        if not copies:
            return Posted(None)
        target = copies[-1][1]
        # In a plain group a header that went as its own message has a link of its own.
        inline_header = place.header if len(copies) == 1 else None
        try:
            if "html" in payload:
                html = await self._merged_text(place.chat_id, target, source, payload)
                if inline_header:
                    html = f"{inline_header}\n{html}"
                await self.bot.edit_message_text(
                    html, place.chat_id, target, parse_mode=ParseMode.HTML
                )
            else:
                caption = payload.get("caption_html") or ""
                if inline_header:
                    caption = f"{inline_header}\n{caption}" if caption else inline_header
                await self.bot.edit_message_caption(
                    place.chat_id, target, caption=caption, parse_mode=ParseMode.HTML
                )
        except BadRequest as error:
            reason = error.message.lower()
            if "not modified" in reason:
                return Posted(target)
            if "thread not found" in reason:
                raise
            logger.info("could not edit copy %s (%s); posting the edit", target, error.message)
            text = self.carebot.render.text(
                self.carebot.default_locale,
                "relay_edited",
                text=payload.get("text") or "",
                header=place.header or "",
            )
            message = await self._send_text(
                place, text, max_wait, ReplyParameters(target, allow_sending_without_reply=True)
            )
            return Posted(message.message_id, [(source, message.message_id)])
        return Posted(target)

    async def _merged_text(
        self, chat_id: int, target: int, source: int, payload: dict[str, Any]
    ) -> str:
        """The copy's text with the edited part replaced (a copy may hold several texts)."""
        async with transaction(self.carebot.sessions) as session:
            parts = await posted_parts(session, chat_id, target)
            texts = []
            for row in parts:
                if row.payload.get("message_id") == source:
                    row.payload = {
                        **row.payload,
                        "html": payload["html"],
                        "chars": payload["chars"],
                    }
                texts.append(row.payload["html"])
        return "\n".join(texts) if texts else payload["html"]

    async def _post_notice(self, post: QueuedPost, place: Place, max_wait: float | None) -> Posted:
        payload = post.head
        html = payload["html"]
        if place.header is not None:
            html = f"{place.header}\n{html}"
        keyboard = (
            InlineKeyboardMarkup.de_json(payload["keyboard"], self.bot)
            if payload.get("keyboard")
            else None
        )
        if payload.get("photo"):
            message = await self._posting(
                place.chat_id,
                1,
                max_wait,
                lambda: self.bot.send_photo(
                    place.chat_id,
                    payload["photo"],
                    caption=html,
                    parse_mode=ParseMode.HTML,
                    message_thread_id=place.topic_id,
                    reply_markup=keyboard,
                    rate_limit_args=PACED,
                ),
            )
        else:
            message = await self._send_text(place, html, max_wait, keyboard=keyboard)
        linked = payload.get("customer_message_id") or 0
        return Posted(message.message_id, [(linked, message.message_id)], message)

    async def _post_card(
        self, thread: AdvisorThread, customer: Customer, place: Place, max_wait: float | None
    ) -> Posted:
        tz = self.carebot.settings.timezone
        now = utc_now()
        async with self.carebot.sessions() as session:
            card = await customer_card(
                session, customer, self.carebot.store, now.astimezone(tz).date(), now
            )
        html = card_text(self.carebot, card)
        if place.header is not None:
            html = f"{place.header}\n{html}"
        message = await self._send_text(place, html, max_wait)
        async with transaction(self.carebot.sessions) as session:
            await set_card(session, thread.id, message.message_id)
            await record_links(
                session,
                customer_id=customer.id,
                group_chat_id=place.chat_id,
                pairs=[(0, message.message_id)],
                direction=LinkDirection.TO_GROUP,
            )
        thread.card_message_id = message.message_id
        return Posted(message.message_id, [], message)


def _seconds(retry_after: int | dt.timedelta) -> float:
    if isinstance(retry_after, dt.timedelta):
        return retry_after.total_seconds()
    return float(retry_after)


async def without_bad_quote(reply: ReplyParameters | None, send: Any) -> Any:
    """Send with the reply; when Telegram cannot find the quote, reply without it."""
    try:
        return await send(reply)
    except BadRequest as error:
        if reply is None or reply.quote is None or "quote" not in error.message.lower():
            raise
    return await send(ReplyParameters(reply.message_id, allow_sending_without_reply=True))
