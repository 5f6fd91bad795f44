"""Bot API method implementations, each answering like Telegram does, errors included."""

from __future__ import annotations

import asyncio
import copy
import json
import mimetypes
import re
import secrets
from collections.abc import Callable
from typing import Any

from bot.sandbox.calls import Call, Result
from bot.sandbox.entities import Entity, detect_entities, utf16_len
from bot.sandbox.errors import ApiError, bad_request, forbidden, violation
from bot.sandbox.formatting import parse_formatting
from bot.sandbox.records import (
    JSON,
    TOPIC_COLORS,
    BotAccount,
    CallbackAnswer,
    Chat,
    Member,
    StoredMessage,
    Topic,
    Webhook,
)
from bot.sandbox.spec import Upload

Handler = Callable[[Call], Any]
REGISTRY: dict[str, Handler] = {}

NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
POLL_CONFLICT = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is "
    "running"
)
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete "
    "the webhook first"
)
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
_UPLOAD_LIMIT = {"photo": 10 * 1024 * 1024}
_DEFAULT_UPLOAD_LIMIT = 50 * 1024 * 1024
_DOWNLOAD_LIMIT = 20 * 1024 * 1024
_INLINE_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)


def api(handler: Handler) -> Handler:
    """Register a handler under its (case-insensitive) Bot API method name."""
    REGISTRY[handler.__name__.lower()] = handler
    return handler


# --------------------------------------------------------------------------- shared checks


def _chat(call: Call, name: str = "chat_id") -> Chat:
    ref = call.params.raw(name)
    if ref is None or ref == "":
        raise violation(f"{name} is empty")
    chat = call.sandbox.chat_by_ref(ref)
    if chat is None or (chat.type == "private" and chat.id not in call.sandbox.users):
        raise bad_request("chat not found")
    never_joined = call.bot.id not in chat.members and chat.bot_default is None
    if chat.is_group and never_joined:
        # Telegram hides groups the bot has never been in.
        raise bad_request("chat not found")
    return chat


def _group_word(chat: Chat) -> str:
    return "supergroup chat" if chat.type == "supergroup" else "group chat"


def _ensure_can_send(call: Call, chat: Chat) -> None:
    sandbox, bot = call.sandbox, call.bot
    if chat.type == "private":
        user = sandbox.users[chat.id]
        if bot.id in user.blocked_bots:
            raise forbidden("bot was blocked by the user")
        if not user.has_started(bot.id):
            raise forbidden("bot can't initiate conversation with a user")
        return
    member = sandbox.member(chat, bot.id)
    if member.status == "kicked":
        raise forbidden(f"bot was kicked from the {_group_word(chat)}")
    if not member.present:
        raise forbidden(f"bot is not a member of the {_group_word(chat)}")


def _bot_member(call: Call, chat: Chat) -> Member:
    if chat.is_group:
        return call.sandbox.member(chat, call.bot.id)
    return Member(call.bot.id)


def _formatted(
    text: Any, mode: Any, entities: Any, *, caption: bool
) -> tuple[str | None, list[Entity]]:
    """Parse a text or caption with its parse mode, applying Telegram's length rules."""
    if text is None:
        return None, []
    if isinstance(entities, str):
        try:
            entities = json.loads(entities)
        except ValueError:
            raise violation("can't parse entities JSON object") from None
    if entities is not None and not isinstance(entities, list):
        raise violation("can't parse entities JSON object")
    plain, parsed = parse_formatting(str(text), mode, entities)
    if caption:
        if utf16_len(plain) > 1024:
            raise violation("message caption is too long")
    else:
        if not plain.strip():
            raise violation("message text is empty")
        if utf16_len(plain) > 4096:
            raise violation("message is too long")
    return plain, detect_entities(plain, parsed)


def _check_inline_keyboard(markup: JSON) -> None:
    rows = markup.get("inline_keyboard")
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise violation("can't parse inline keyboard markup JSON object")
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise violation(
                    'can\'t parse inline keyboard button: Field "text" must be of type String'
                )
            actions = [key for key in _INLINE_ACTIONS if key in button]
            if not actions:
                raise violation(
                    "can't parse inline keyboard button: Text buttons are unallowed "
                    "in the inline keyboard"
                )
            if "callback_data" in button:
                data = button["callback_data"]
                if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= 64:
                    raise violation("BUTTON_DATA_INVALID")
            if "url" in button and not re.match(r"(https?|tg)://\S+", str(button["url"])):
                raise violation("BUTTON_URL_INVALID")


def _markup(call: Call, allow_reply_keyboards: bool = True) -> JSON | None:
    markup = call.params.object("reply_markup")
    if markup is None:
        return None
    if "inline_keyboard" in markup:
        _check_inline_keyboard(markup)
        return markup
    if not allow_reply_keyboards:
        raise violation("can't parse inline keyboard markup JSON object")
    if "keyboard" in markup:
        rows = markup["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise violation("can't parse reply keyboard markup JSON object")
        normalized = [
            [{"text": button} if isinstance(button, str) else button for button in row]
            for row in rows
        ]
        for row in normalized:
            for button in row:
                if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                    raise violation(
                        'can\'t parse keyboard button: Field "text" must be of type String'
                    )
        return {**markup, "keyboard": normalized}
    if markup.get("remove_keyboard") is True or markup.get("force_reply") is True:
        return markup
    raise violation("can't parse reply keyboard markup JSON object")


def _reply(call: Call, chat: Chat) -> tuple[StoredMessage | None, JSON | None]:
    """Resolve reply_parameters (or the legacy reply_to_message_id) to a message and quote."""
    params = call.params
    reply = params.object("reply_parameters")
    if reply is None and params.integer("reply_to_message_id") is not None:
        reply = {
            "message_id": params.integer("reply_to_message_id"),
            "allow_sending_without_reply": params.boolean("allow_sending_without_reply"),
        }
    if reply is None:
        return None, None
    target_chat = chat
    if reply.get("chat_id") not in (None, chat.id, str(chat.id)):
        found = call.sandbox.chat_by_ref(reply["chat_id"])
        if found is None:
            raise bad_request("chat not found")
        target_chat = found
    try:
        message_id = int(reply.get("message_id"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise violation("can't parse reply parameters JSON object") from None
    target = call.sandbox.find_message(target_chat, message_id)
    if target is None:
        if reply.get("allow_sending_without_reply") in (True, "true"):
            return None, None
        raise bad_request("message to be replied not found")
    quote = reply.get("quote")
    if quote is None:
        return target, None
    body = target.body or ""
    quote_text, _ = parse_formatting(
        str(quote), reply.get("quote_parse_mode"), reply.get("quote_entities")
    )
    if quote_text not in body:
        raise bad_request("QUOTE_TEXT_INVALID")
    position = reply.get("quote_position")
    if position is None:
        position = utf16_len(body[: body.index(quote_text)])
    return target, {"text": quote_text, "position": int(position), "is_manual": True}


def _placement(call: Call, chat: Chat) -> JSON:
    """Thread, reply and protection fields shared by every sending method."""
    target, quote = _reply(call, chat)
    thread, in_topic = call.sandbox.resolve_thread(
        chat, call.params.integer("message_thread_id"), target, _bot_member(call, chat)
    )
    placement: JSON = {
        "message_thread_id": thread,
        "is_topic_message": in_topic,
        "has_protected_content": call.params.boolean("protect_content"),
    }
    if target is not None:
        placement["reply_to_message_id"] = target.message_id
        if target.chat_id != chat.id:
            placement["reply_to_chat_id"] = target.chat_id
        placement["quote"] = quote
    return placement


def _flood(call: Call, chat: Chat, count: int = 1) -> None:
    flood = call.sandbox.flood
    if flood is not None:
        flood.check(call.bot.id, chat.id, chat.is_group, count)


def _post(call: Call, chat: Chat, placement: JSON, markup: JSON | None, **content: Any) -> JSON:
    message = call.sandbox.new_message(chat, call.bot, reply_markup=markup, **placement, **content)
    if markup is not None and "keyboard" in markup:
        chat.reply_keyboard = markup
    elif markup is not None and markup.get("remove_keyboard"):
        chat.reply_keyboard = None
    return call.sandbox.render(message)


def _file_payload(
    call: Call, kind: str, value: Upload | str, details: JSON
) -> tuple[JSON, list[str]]:
    """Store or look up a file and return the message fields describing it."""
    files = call.sandbox.files
    extra = {key: details.get(key) for key in ("performer", "title", "emoji") if key in details}
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        # Telegram would download the URL; the sandbox records it without fetching.
        if kind == "photo":
            sizes = files.add_photo(b"", source_url=value)
            return {"photo": sizes}, [size["file_id"] for size in sizes]
        name = value.rsplit("/", 1)[-1] or None
        stored = files.add(
            kind,
            b"",
            file_name=name,
            source_url=value,
            mime_type=mimetypes.guess_type(name or "")[0],
        )
        return {kind: files.payload(stored, **extra)}, [stored.file_id]
    if isinstance(value, Upload):
        if len(value.content) > _UPLOAD_LIMIT.get(kind, _DEFAULT_UPLOAD_LIMIT):
            raise ApiError(413, "Request Entity Too Large")
        if kind == "photo":
            sizes = files.add_photo(value.content)
            return {"photo": sizes}, [size["file_id"] for size in sizes]
        mime_type = value.mime_type
        if not mime_type or mime_type == "application/octet-stream":
            mime_type = mimetypes.guess_type(value.filename)[0] or mime_type
        stored = files.add(
            kind,
            value.content,
            mime_type=mime_type,
            file_name=value.filename,
            width=_maybe_int(details.get("width")),
            height=_maybe_int(details.get("height")),
            duration=_maybe_int(details.get("duration")),
        )
        return {kind: files.payload(stored, **extra)}, [stored.file_id]
    stored_file = files.by_id.get(value)
    if stored_file is None:
        raise bad_request("wrong file identifier/HTTP URL specified")
    if stored_file.kind != kind:
        raise bad_request(
            f"can't use file of type {stored_file.kind.capitalize()} as {kind.capitalize()}"
        )
    if kind == "photo":
        sizes = files.photo_sizes(value)
        return {"photo": sizes}, [size["file_id"] for size in sizes]
    return {kind: files.payload(stored_file, **extra)}, [stored_file.file_id]


def _maybe_int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _send_file(call: Call, kind: str) -> JSON:
    chat = _chat(call)
    _ensure_can_send(call, chat)
    value = call.params.input_file(kind)
    if value is None or value == "":
        raise violation(f"there is no {kind} in the request")
    placement = _placement(call, chat)
    p = call.params
    caption, caption_entities = _formatted(
        p.string("caption"), p.string("parse_mode"), p.raw("caption_entities"), caption=True
    )
    markup = _markup(call)
    details = {
        key: p.raw(key)
        for key in ("duration", "width", "height", "performer", "title", "emoji")
        if key in p
    }
    media, file_ids = _file_payload(call, kind, value, details)
    _flood(call, chat)
    content: JSON = {"kind": kind, "media": media, "file_ids": file_ids}
    if caption:
        content.update(
            caption=caption,
            caption_entities=caption_entities,
            source=p.string("caption"),
            parse_mode=p.string("parse_mode"),
        )
    return _post(call, chat, placement, markup, **content)


def _content_of(message: StoredMessage) -> JSON:
    return {
        "kind": message.kind,
        "text": message.text,
        "entities": copy.deepcopy(message.entities),
        "caption": message.caption,
        "caption_entities": copy.deepcopy(message.caption_entities),
        "source": message.source,
        "parse_mode": message.parse_mode,
        "media": copy.deepcopy(message.media),
        "file_ids": list(message.file_ids),
    }


def _source_message(call: Call, verb: str, message_id: int | None) -> tuple[Chat, StoredMessage]:
    source_chat = _chat(call, "from_chat_id")
    message = call.sandbox.find_message(source_chat, message_id)
    if message is None:
        raise bad_request(f"message to {verb} not found")
    if message.service:
        raise bad_request(f"message can't be {'copied' if verb == 'copy' else 'forwarded'}")
    return source_chat, message


def _forward_origin(call: Call, message: StoredMessage) -> JSON:
    if message.forward_origin:
        return message.forward_origin
    sender = call.sandbox.account(message.sender_id)
    return {"type": "user", "sender_user": sender.to_api(), "date": message.date}


def _message_ids(call: Call) -> list[int]:
    ids = call.params.array("message_ids") or []
    if not 1 <= len(ids) <= 100:
        raise violation("message_ids must contain 1-100 identifiers")
    try:
        return sorted({int(value) for value in ids})
    except (TypeError, ValueError):
        raise violation("message_ids must be integers") from None


def _editable(call: Call) -> StoredMessage:
    if "inline_message_id" in call.params:
        raise bad_request("MESSAGE_ID_INVALID")
    chat = _chat(call)
    message = call.sandbox.find_message(chat, call.params.integer("message_id"))
    if message is None:
        raise bad_request("message to edit not found")
    if message.sender_id != call.bot.id or message.service:
        raise bad_request("message can't be edited")
    return message


def _inline_markup(message: StoredMessage) -> JSON | None:
    markup = message.reply_markup
    return markup if markup and "inline_keyboard" in markup else None


def _apply_edit(call: Call, message: StoredMessage, markup: JSON | None, **changes: Any) -> JSON:
    message.history.append(message.snapshot())
    for key, value in changes.items():
        setattr(message, key, value)
    if markup is not None or _inline_markup(message) is not None:
        # Editing without reply_markup removes an inline keyboard, as on Telegram.
        message.reply_markup = markup
    message.edit_date = call.sandbox.now()
    call.sandbox.notify()
    return call.sandbox.render(message)


def _topic(call: Call, chat: Chat) -> Topic:
    if not chat.is_forum:
        raise bad_request("the chat is not a forum")
    thread_id = call.params.integer("message_thread_id")
    topic = chat.topics.get(thread_id or 0)
    if topic is None or topic.deleted:
        raise bad_request("message thread not found")
    return topic


def _require_topic_rights(call: Call, chat: Chat, topic: Topic | None = None) -> None:
    member = _bot_member(call, chat)
    if member.can("can_manage_topics"):
        return
    if topic is not None and topic.creator_id == call.bot.id:
        return
    raise bad_request("not enough rights to manage topics")


def _render_member(call: Call, chat: Chat, member: Member) -> JSON:
    account = call.sandbox.account(member.user_id)
    data: JSON = {"status": member.status, "user": account.to_api()}
    if member.status == "creator":
        data["is_anonymous"] = False
    elif member.status == "administrator":
        rights = member.rights.to_api() if member.rights else {}
        data.update(can_be_edited=False, **rights)
    elif member.status == "kicked":
        data["until_date"] = 0
    return data


def _scope_key(call: Call) -> tuple[str, str]:
    scope = call.params.object("scope") or {"type": "default"}
    return json.dumps(scope, sort_keys=True), call.params.string("language_code") or ""


def _confirm(bot: BotAccount, offset: int | None) -> None:
    if offset is None or offset == 0:
        return
    if offset > 0:
        bot.updates = [u for u in bot.updates if u["update_id"] >= offset]
    else:
        bot.updates = bot.updates[offset:]


# --------------------------------------------------------------------------- bot and updates
# Handler names are the Bot API's camelCase method names, which is how they are registered.


@api
def getMe(call: Call) -> JSON:
    """Describe the bot."""
    return call.bot.me()


@api
def logOut(call: Call) -> bool:
    """Accept; the sandbox has no cloud server to log out from."""
    return True


@api
def close(call: Call) -> bool:
    """Accept; the sandbox has no instance to close."""
    return True


@api
async def getUpdates(call: Call) -> list[JSON]:
    """Long-poll for updates, confirming those below ``offset``."""
    bot, sandbox, p = call.bot, call.sandbox, call.params
    if bot.webhook is not None:
        raise ApiError(409, WEBHOOK_CONFLICT)
    limit = min(100, max(1, p.integer("limit", 100) or 100))
    timeout = max(0, p.integer("timeout", 0) or 0)
    allowed = p.array("allowed_updates")
    if allowed is not None:
        bot.allowed_updates = allowed or None
    _confirm(bot, p.integer("offset"))
    bot.poll_generation += 1
    generation = bot.poll_generation
    sandbox.notify()  # an older long poll still waiting must now end with a conflict
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if bot.poll_generation != generation:
            raise ApiError(409, POLL_CONFLICT)
        if bot.webhook is not None:
            raise ApiError(409, WEBHOOK_CONFLICT)
        if bot.updates:
            return bot.updates[:limit]
        remaining = deadline - loop.time()
        if remaining <= 0:
            return []
        await sandbox.changed(remaining)


@api
def setWebhook(call: Call) -> Result:
    """Register a webhook; the sandbox then POSTs updates to it."""
    bot, p = call.bot, call.params
    url = p.string("url") or ""
    if not url:
        return deleteWebhook(call)
    if not url.startswith(("https://", "http://")):
        raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    secret = p.string("secret_token")
    if secret is not None and not _SECRET.fullmatch(secret):
        raise bad_request("secret token contains unallowed characters")
    max_connections = p.integer("max_connections", 40) or 40
    if not 1 <= max_connections <= 100:
        raise bad_request("bad webhook: max_connections must be between 1 and 100")
    if p.boolean("drop_pending_updates"):
        bot.updates.clear()
    allowed = p.array("allowed_updates")
    if allowed is not None:
        bot.allowed_updates = allowed or None
    current = bot.webhook
    if current is not None and current.url == url and current.secret_token == secret:
        return Result(True, "Webhook is already set")
    bot.webhook = Webhook(url, secret, max_connections, allowed)
    bot.poll_generation += 1
    call.sandbox.start_webhook(bot)
    return Result(True, "Webhook was set")


@api
def deleteWebhook(call: Call) -> Result:
    """Remove the webhook, optionally dropping pending updates."""
    bot = call.bot
    if call.params.boolean("drop_pending_updates"):
        bot.updates.clear()
    if bot.webhook is None:
        return Result(True, "Webhook is already deleted")
    bot.webhook = None
    call.sandbox.stop_webhook(bot)
    return Result(True, "Webhook was deleted")


@api
def getWebhookInfo(call: Call) -> JSON:
    """Describe the webhook and the pending update count."""
    bot = call.bot
    info: JSON = {
        "url": "",
        "has_custom_certificate": False,
        "pending_update_count": len(bot.updates),
    }
    hook = bot.webhook
    if hook is not None:
        info.update(url=hook.url, max_connections=hook.max_connections, ip_address="127.0.0.1")
        if hook.last_error_date:
            info.update(
                last_error_date=hook.last_error_date, last_error_message=hook.last_error_message
            )
        if bot.allowed_updates:
            info["allowed_updates"] = bot.allowed_updates
    return info


# --------------------------------------------------------------------------- chats


@api
def getChat(call: Call) -> JSON:
    """Describe a chat as ChatFullInfo."""
    chat = _chat(call)
    info = chat.to_api(call.sandbox.users.get(chat.id))
    info.update(
        accent_color_id=chat.id % 7,
        max_reaction_count=11,
        accepted_gift_types={
            "unlimited_gifts": False,
            "limited_gifts": False,
            "unique_gifts": False,
            "premium_subscription": False,
            "gifts_from_channels": False,
        },
    )
    if chat.is_group:
        info["permissions"] = {
            "can_send_messages": True,
            "can_send_audios": True,
            "can_send_documents": True,
            "can_send_photos": True,
            "can_send_videos": True,
            "can_send_video_notes": True,
            "can_send_voice_notes": True,
            "can_send_polls": True,
            "can_send_other_messages": True,
            "can_add_web_page_previews": True,
            "can_change_info": False,
            "can_invite_users": True,
            "can_pin_messages": False,
            "can_manage_topics": False,
        }
        if chat.description:
            info["description"] = chat.description
    return info


@api
def getChatMember(call: Call) -> JSON:
    """Describe a member's status."""
    chat = _chat(call)
    user_id = call.params.integer("user_id")
    sandbox = call.sandbox
    if user_id not in sandbox.users and user_id not in sandbox.bots:
        raise bad_request("user not found")
    if chat.type == "private":
        if user_id not in (chat.id, call.bot.id):
            raise bad_request("user not found")
        return _render_member(call, chat, Member(user_id))
    return _render_member(call, chat, sandbox.member(chat, user_id))


@api
def getChatAdministrators(call: Call) -> list[JSON]:
    """List the creator and administrators of a group."""
    chat = _chat(call)
    if not chat.is_group:
        raise bad_request("there are no administrators in the private chat")
    sandbox = call.sandbox
    ids = list(chat.members) + [b for b in sandbox.bots if b not in chat.members]
    members = [sandbox.member(chat, account_id) for account_id in ids]
    return [
        _render_member(call, chat, m) for m in members if m.status in {"creator", "administrator"}
    ]


@api
def getChatMemberCount(call: Call) -> int:
    """Count the members present in a chat."""
    chat = _chat(call)
    if not chat.is_group:
        return 2
    sandbox = call.sandbox
    ids = set(chat.members) | set(sandbox.bots)
    return sum(1 for account_id in ids if sandbox.member(chat, account_id).present)


@api
def leaveChat(call: Call) -> bool:
    """The bot leaves a group."""
    chat = _chat(call)
    if not chat.is_group:
        raise bad_request("chat member status can't be changed in private chats")
    if not call.sandbox.member(chat, call.bot.id).present:
        raise forbidden(f"bot is not a member of the {_group_word(chat)}")
    chat.members[call.bot.id] = Member(call.bot.id, "left")
    return True


@api
def banChatMember(call: Call) -> bool:
    """Ban a user from a group."""
    chat = _chat(call)
    if not chat.is_group:
        raise bad_request("chat member status can't be changed in private chats")
    if not _bot_member(call, chat).can("can_restrict_members"):
        raise bad_request("not enough rights to restrict/ban chat member")
    user_id = call.params.integer("user_id") or 0
    if call.sandbox.member(chat, user_id).status == "creator":
        raise bad_request("can't remove chat owner")
    chat.members[user_id] = Member(user_id, "kicked")
    return True


@api
def unbanChatMember(call: Call) -> bool:
    """Lift a ban (the user is then free to rejoin)."""
    chat = _chat(call)
    if not chat.is_group:
        raise bad_request("chat member status can't be changed in private chats")
    user_id = call.params.integer("user_id") or 0
    member = call.sandbox.member(chat, user_id)
    if member.status == "kicked":
        chat.members[user_id] = Member(user_id, "left")
    elif member.present and call.params.boolean("only_if_banned"):
        return True
    return True


@api
def pinChatMessage(call: Call) -> bool:
    """Accept pinning a live message."""
    chat = _chat(call)
    if chat.is_group and not _bot_member(call, chat).can("can_pin_messages"):
        raise bad_request("not enough rights to manage pinned messages in the chat")
    if call.sandbox.find_message(chat, call.params.integer("message_id")) is None:
        raise bad_request("message to pin not found")
    return True


@api
def unpinChatMessage(call: Call) -> bool:
    """Accept unpinning."""
    _chat(call)
    return True


# --------------------------------------------------------------------------- sending


@api
def sendMessage(call: Call) -> JSON:
    """Send a text message."""
    p = call.params
    chat = _chat(call)
    _ensure_can_send(call, chat)
    placement = _placement(call, chat)
    raw = p.string("text")
    if raw is None:
        raise violation("message text is empty")
    text, entities = _formatted(raw, p.string("parse_mode"), p.raw("entities"), caption=False)
    markup = _markup(call)
    _flood(call, chat)
    return _post(
        call,
        chat,
        placement,
        markup,
        kind="text",
        text=text,
        entities=entities,
        source=raw,
        parse_mode=p.string("parse_mode"),
    )


@api
def sendPhoto(call: Call) -> JSON:
    """Send a photo."""
    return _send_file(call, "photo")


@api
def sendDocument(call: Call) -> JSON:
    """Send a document."""
    return _send_file(call, "document")


@api
def sendVoice(call: Call) -> JSON:
    """Send a voice note."""
    return _send_file(call, "voice")


@api
def sendVideo(call: Call) -> JSON:
    """Send a video."""
    return _send_file(call, "video")


@api
def sendAudio(call: Call) -> JSON:
    """Send an audio file."""
    return _send_file(call, "audio")


@api
def sendAnimation(call: Call) -> JSON:
    """Send an animation."""
    return _send_file(call, "animation")


@api
def sendSticker(call: Call) -> JSON:
    """Send a sticker."""
    return _send_file(call, "sticker")


@api
def sendLocation(call: Call) -> JSON:
    """Send a location."""
    p = call.params
    chat = _chat(call)
    _ensure_can_send(call, chat)
    latitude, longitude = p.number("latitude"), p.number("longitude")
    if latitude is None or longitude is None:
        raise violation("latitude and longitude are required")
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise bad_request("wrong latitude or longitude")
    placement = _placement(call, chat)
    markup = _markup(call)
    _flood(call, chat)
    location = {"latitude": latitude, "longitude": longitude}
    return _post(call, chat, placement, markup, kind="location", media={"location": location})


@api
def sendContact(call: Call) -> JSON:
    """Send a contact card."""
    p = call.params
    chat = _chat(call)
    _ensure_can_send(call, chat)
    phone, first_name = p.string("phone_number"), p.string("first_name")
    if not phone:
        raise violation("phone_number is empty")
    if not first_name:
        raise violation("first_name is empty")
    contact: JSON = {"phone_number": phone, "first_name": first_name}
    for key in ("last_name", "vcard"):
        if p.string(key):
            contact[key] = p.string(key)
    placement = _placement(call, chat)
    markup = _markup(call)
    _flood(call, chat)
    return _post(call, chat, placement, markup, kind="contact", media={"contact": contact})


@api
def sendMediaGroup(call: Call) -> list[JSON]:
    """Send 2-10 photos/videos (or documents, or audios) as one album."""
    chat = _chat(call)
    _ensure_can_send(call, chat)
    items = call.params.array("media") or []
    if not 2 <= len(items) <= 10:
        raise violation("media must include 2-10 items")
    kinds = {item.get("type") if isinstance(item, dict) else None for item in items}
    if not (kinds <= {"photo", "video"} or kinds == {"document"} or kinds == {"audio"}):
        raise violation(f"media of types {sorted(map(str, kinds))} can't be mixed in one album")
    placement = _placement(call, chat)
    prepared = []
    for item in items:
        kind = item["type"]
        caption, caption_entities = _formatted(
            item.get("caption"),
            item.get("parse_mode"),
            item.get("caption_entities"),
            caption=True,
        )
        media, file_ids = _file_payload(call, kind, call.params.attachment(item.get("media")), item)
        content: JSON = {"kind": kind, "media": media, "file_ids": file_ids}
        if caption:
            content.update(
                caption=caption,
                caption_entities=caption_entities,
                source=item.get("caption"),
                parse_mode=item.get("parse_mode"),
            )
        prepared.append(content)
    _flood(call, chat, len(prepared))
    group_id = str(secrets.randbelow(10**17) + 10**17)
    return [
        _post(call, chat, placement, None, media_group_id=group_id, **content)
        for content in prepared
    ]


@api
def sendChatAction(call: Call) -> bool:
    """Show a chat action such as "typing"."""
    chat = _chat(call)
    _ensure_can_send(call, chat)
    action = call.params.string("action")
    if action not in CHAT_ACTIONS:
        raise violation("wrong parameter action in request")
    call.sandbox.chat_actions.append((chat.id, action))
    return True


@api
def forwardMessage(call: Call) -> JSON:
    """Forward a message, keeping its origin."""
    chat = _chat(call)
    _ensure_can_send(call, chat)
    _, message = _source_message(call, "forward", call.params.integer("message_id"))
    placement = _placement(call, chat)
    _flood(call, chat)
    return _post(
        call,
        chat,
        placement,
        None,
        forward_origin=_forward_origin(call, message),
        **_content_of(message),
    )


@api
def forwardMessages(call: Call) -> list[JSON]:
    """Forward several messages, keeping albums together."""
    chat = _chat(call)
    _ensure_can_send(call, chat)
    placement = _placement(call, chat)
    found = _bulk_sources(call, "forward")
    _flood(call, chat, len(found))
    groups: dict[str, str] = {}
    results = []
    for message in found:
        group = message.media_group_id and groups.setdefault(
            message.media_group_id, str(secrets.randbelow(10**17) + 10**17)
        )
        posted = _post(
            call,
            chat,
            placement,
            None,
            forward_origin=_forward_origin(call, message),
            media_group_id=group or None,
            **_content_of(message),
        )
        results.append({"message_id": posted["message_id"]})
    return results


def _bulk_sources(call: Call, verb: str) -> list[StoredMessage]:
    source_chat = _chat(call, "from_chat_id")
    found = [
        message
        for message_id in _message_ids(call)
        if (message := call.sandbox.find_message(source_chat, message_id)) is not None
        and not message.service
    ]
    if not found:
        raise bad_request(f"message to {verb} not found")
    return found


@api
def copyMessage(call: Call) -> JSON:
    """Copy a message without a link to the original."""
    p = call.params
    chat = _chat(call)
    _ensure_can_send(call, chat)
    _, message = _source_message(call, "copy", p.integer("message_id"))
    placement = _placement(call, chat)
    content = _content_of(message)
    if "caption" in p and message.text is None:
        caption, caption_entities = _formatted(
            p.string("caption"), p.string("parse_mode"), p.raw("caption_entities"), caption=True
        )
        content.update(
            caption=caption or None,
            caption_entities=caption_entities,
            source=p.string("caption"),
            parse_mode=p.string("parse_mode"),
        )
    markup = _markup(call)
    _flood(call, chat)
    posted = _post(call, chat, placement, markup, **content)
    return {"message_id": posted["message_id"]}


@api
def copyMessages(call: Call) -> list[JSON]:
    """Copy several messages."""
    chat = _chat(call)
    _ensure_can_send(call, chat)
    placement = _placement(call, chat)
    found = _bulk_sources(call, "copy")
    _flood(call, chat, len(found))
    groups: dict[str, str] = {}
    results = []
    for message in found:
        content = _content_of(message)
        if call.params.boolean("remove_caption"):
            content.update(caption=None, caption_entities=[])
        group = message.media_group_id and groups.setdefault(
            message.media_group_id, str(secrets.randbelow(10**17) + 10**17)
        )
        posted = _post(call, chat, placement, None, media_group_id=group or None, **content)
        results.append({"message_id": posted["message_id"]})
    return results


# --------------------------------------------------------------------------- editing


@api
def editMessageText(call: Call) -> JSON:
    """Edit the text (and inline keyboard) of one of the bot's messages."""
    p = call.params
    message = _editable(call)
    raw = p.string("text")
    if raw is None:
        raise violation("message text is empty")
    if message.text is None:
        raise bad_request("there is no text in the message to edit")
    text, entities = _formatted(raw, p.string("parse_mode"), p.raw("entities"), caption=False)
    markup = _markup(call, allow_reply_keyboards=False)
    if (text, entities, markup) == (message.text, message.entities, _inline_markup(message)):
        raise bad_request(NOT_MODIFIED)
    return _apply_edit(
        call,
        message,
        markup,
        text=text,
        entities=entities,
        source=raw,
        parse_mode=p.string("parse_mode"),
    )


@api
def editMessageCaption(call: Call) -> JSON:
    """Edit the caption of one of the bot's media messages."""
    p = call.params
    message = _editable(call)
    if message.text is not None or message.kind in {"location", "contact", "sticker"}:
        raise bad_request("there is no caption in the message to edit")
    caption, entities = _formatted(
        p.string("caption") or "",
        p.string("parse_mode"),
        p.raw("caption_entities"),
        caption=True,
    )
    markup = _markup(call, allow_reply_keyboards=False)
    current = (message.caption or "", message.caption_entities, _inline_markup(message))
    if (caption, entities, markup) == current:
        raise bad_request(NOT_MODIFIED)
    return _apply_edit(
        call,
        message,
        markup,
        caption=caption or None,
        caption_entities=entities,
        source=p.string("caption"),
        parse_mode=p.string("parse_mode"),
    )


@api
def editMessageReplyMarkup(call: Call) -> JSON:
    """Replace or remove the inline keyboard of one of the bot's messages."""
    message = _editable(call)
    markup = _markup(call, allow_reply_keyboards=False)
    if markup == _inline_markup(message):
        raise bad_request(NOT_MODIFIED)
    return _apply_edit(call, message, markup)


def _delete(call: Call, chat: Chat, message_id: int | None) -> None:
    message = call.sandbox.find_message(chat, message_id)
    if message is None:
        raise bad_request("message to delete not found")
    own = message.sender_id == call.bot.id
    if chat.is_group and not own and not _bot_member(call, chat).can("can_delete_messages"):
        raise bad_request("message can't be deleted")
    if message.kind == "forum_topic_created":
        raise bad_request("message can't be deleted")
    message.deleted = True


@api
def deleteMessage(call: Call) -> bool:
    """Delete a message."""
    chat = _chat(call)
    _delete(call, chat, call.params.integer("message_id"))
    return True


@api
def deleteMessages(call: Call) -> bool:
    """Delete several messages, skipping those that cannot be deleted."""
    chat = _chat(call)
    deleted = 0
    for message_id in _message_ids(call):
        try:
            _delete(call, chat, message_id)
            deleted += 1
        except ApiError:
            continue
    if not deleted:
        raise bad_request("message to delete not found")
    return True


# --------------------------------------------------------------------------- callbacks, commands


@api
def answerCallbackQuery(call: Call) -> bool:
    """Answer a button press; each query can be answered once."""
    p = call.params
    query_id = p.string("callback_query_id") or ""
    query = call.sandbox.queries.get(query_id)
    if query is None or query.bot_id != call.bot.id or query.answered:
        raise bad_request(QUERY_TOO_OLD)
    text = p.string("text")
    if text is not None and utf16_len(text) > 200:
        raise violation("MESSAGE_TOO_LONG")
    query.answered = True
    call.sandbox.callback_answers.append(
        CallbackAnswer(
            query_id,
            text,
            p.boolean("show_alert"),
            p.string("url"),
            p.integer("cache_time", 0) or 0,
        )
    )
    return True


@api
def setMyCommands(call: Call) -> bool:
    """Store the command list for a scope and language."""
    commands = call.params.array("commands")
    if commands is None:
        raise violation("commands is empty")
    if len(commands) > 100:
        raise violation("too many commands specified")
    for command in commands:
        name = command.get("command", "") if isinstance(command, dict) else ""
        description = command.get("description", "") if isinstance(command, dict) else ""
        if not _COMMAND.fullmatch(str(name).lstrip("/").lower()):
            raise violation("BOT_COMMAND_INVALID")
        if not 1 <= utf16_len(str(description)) <= 256:
            raise violation("BOT_COMMAND_DESCRIPTION_INVALID")
    call.bot.commands[_scope_key(call)] = [
        {"command": str(c["command"]).lstrip("/").lower(), "description": c["description"]}
        for c in commands
    ]
    return True


@api
def getMyCommands(call: Call) -> list[JSON]:
    """Return the command list for a scope and language."""
    return call.bot.commands.get(_scope_key(call), [])


@api
def deleteMyCommands(call: Call) -> bool:
    """Remove the command list for a scope and language."""
    call.bot.commands.pop(_scope_key(call), None)
    return True


@api
def setChatMenuButton(call: Call) -> bool:
    """Store the menu button for a chat or as the default."""
    chat_id = call.params.integer("chat_id")
    button = call.params.object("menu_button") or {"type": "default"}
    if button.get("type") not in {"commands", "web_app", "default"}:
        raise violation("can't parse menu button JSON object")
    call.bot.menu_buttons[chat_id] = button
    return True


@api
def getChatMenuButton(call: Call) -> JSON:
    """Return the menu button for a chat, falling back to the default."""
    chat_id = call.params.integer("chat_id")
    buttons = call.bot.menu_buttons
    return buttons.get(chat_id) or buttons.get(None) or {"type": "default"}


def _set_text_setting(call: Call, name: str, limit: int) -> bool:
    value = call.params.string(name) or ""
    if utf16_len(value) > limit:
        raise violation(f"{name} is too long")
    call.bot.descriptions[(name, call.params.string("language_code") or "")] = value
    return True


def _get_text_setting(call: Call, name: str) -> JSON:
    key = (name, call.params.string("language_code") or "")
    return {name: call.bot.descriptions.get(key, call.bot.first_name if name == "name" else "")}


@api
def setMyDescription(call: Call) -> bool:
    """Store the bot description."""
    return _set_text_setting(call, "description", 512)


@api
def getMyDescription(call: Call) -> JSON:
    """Return the bot description."""
    return _get_text_setting(call, "description")


@api
def setMyShortDescription(call: Call) -> bool:
    """Store the bot short description."""
    return _set_text_setting(call, "short_description", 120)


@api
def getMyShortDescription(call: Call) -> JSON:
    """Return the bot short description."""
    return _get_text_setting(call, "short_description")


@api
def setMyName(call: Call) -> bool:
    """Store the bot name."""
    return _set_text_setting(call, "name", 64)


@api
def getMyName(call: Call) -> JSON:
    """Return the bot name."""
    return _get_text_setting(call, "name")


# --------------------------------------------------------------------------- forum topics


@api
def createForumTopic(call: Call) -> JSON:
    """Create a topic in a forum supergroup."""
    p = call.params
    chat = _chat(call)
    _ensure_can_send(call, chat)
    if not chat.is_forum:
        raise bad_request("the chat is not a forum")
    if not _bot_member(call, chat).can("can_manage_topics"):
        raise bad_request("not enough rights to create a topic")
    name = p.string("name") or ""
    if not 1 <= utf16_len(name) <= 128:
        raise violation("TOPIC_NAME_INVALID")
    color = p.integer("icon_color")
    if color is not None and color not in TOPIC_COLORS:
        raise bad_request("TOPIC_ICON_COLOR_INVALID")  # only the six documented colors work
    topic, _ = call.sandbox.open_topic(
        chat, call.bot, name, color, p.string("icon_custom_emoji_id")
    )
    return topic.to_api()


@api
def editForumTopic(call: Call) -> bool:
    """Rename a topic or change its icon."""
    p = call.params
    chat = _chat(call)
    topic = _topic(call, chat)
    _require_topic_rights(call, chat, topic)
    name = p.string("name")
    emoji = p.string("icon_custom_emoji_id")
    if name is not None and utf16_len(name) > 128:
        raise violation("TOPIC_NAME_INVALID")
    changes: JSON = {}
    if name and name != topic.name:
        changes["name"] = name
    if emoji is not None and (emoji or None) != topic.icon_custom_emoji_id:
        changes["icon_custom_emoji_id"] = emoji
    if not changes:
        raise bad_request("TOPIC_NOT_MODIFIED")
    topic.name = changes.get("name", topic.name)
    if "icon_custom_emoji_id" in changes:
        topic.icon_custom_emoji_id = emoji or None
    call.sandbox.topic_service(chat, call.bot, topic, "forum_topic_edited", changes)
    return True


def _set_topic_closed(call: Call, closed: bool) -> bool:
    chat = _chat(call)
    topic = _topic(call, chat)
    _require_topic_rights(call, chat, topic)
    if topic.closed == closed:
        raise bad_request("TOPIC_NOT_MODIFIED")
    topic.closed = closed
    kind = "forum_topic_closed" if closed else "forum_topic_reopened"
    call.sandbox.topic_service(chat, call.bot, topic, kind, {})
    return True


@api
def closeForumTopic(call: Call) -> bool:
    """Close a topic."""
    return _set_topic_closed(call, True)


@api
def reopenForumTopic(call: Call) -> bool:
    """Reopen a closed topic."""
    return _set_topic_closed(call, False)


@api
def deleteForumTopic(call: Call) -> bool:
    """Delete a topic with all its messages."""
    chat = _chat(call)
    topic = _topic(call, chat)
    if not _bot_member(call, chat).can("can_delete_messages"):
        raise bad_request("not enough rights to delete a topic")
    call.sandbox.remove_topic(chat, topic)
    return True


# --------------------------------------------------------------------------- files


@api
def getFile(call: Call) -> JSON:
    """Describe a file and its download path."""
    file_id = call.params.string("file_id") or ""
    stored = call.sandbox.files.by_id.get(file_id)
    if stored is None:
        raise bad_request("invalid file_id")
    if len(stored.content) > _DOWNLOAD_LIMIT:
        raise bad_request("file is too big")
    return stored.to_api()


def implemented() -> list[str]:
    """The Bot API methods the sandbox serves, in their documented spelling."""
    return sorted(handler.__name__ for handler in REGISTRY.values())
