"""Plain records for the sandbox's state: accounts, chats, topics, files and messages."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import Any

JSON = dict[str, Any]

# Colors Telegram allows for forum topic icons; the first is its default.
TOPIC_COLORS = (7322096, 16766590, 13338331, 9367192, 16749490, 16478047)


@dataclass
class User:
    """A human Telegram account driven by tests."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "en"
    is_premium: bool = False
    phone_number: str | None = None
    blocked_bots: set[int] = field(default_factory=set)
    # Bots this user has opened a private chat with; others get "can't initiate conversation".
    started_bots: set[int] = field(default_factory=set)
    started_by_default: bool = True

    is_bot = False

    def to_api(self) -> JSON:
        """Render as a Bot API User object."""
        data: JSON = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            if getattr(self, key):
                data[key] = getattr(self, key)
        if self.is_premium:
            data["is_premium"] = True
        return data

    def has_started(self, bot_id: int) -> bool:
        """Whether the bot may write to this user first."""
        return self.started_by_default or bot_id in self.started_bots


@dataclass
class Webhook:
    """A bot's webhook registration and delivery status."""

    url: str
    secret_token: str | None = None
    max_connections: int = 40
    allowed_updates: list[str] | None = None
    last_error_date: int | None = None
    last_error_message: str | None = None
    delivered: int = 0


@dataclass
class BotAccount:
    """A bot known to the sandbox, with its update queue and settings."""

    id: int
    token: str
    first_name: str
    username: str
    privacy: bool = True
    updates: list[JSON] = field(default_factory=list)
    next_update_id: int = 1
    allowed_updates: list[str] | None = None
    webhook: Webhook | None = None
    poll_generation: int = 0
    commands: dict[tuple[str, str], list[JSON]] = field(default_factory=dict)
    menu_buttons: dict[int | None, JSON] = field(default_factory=dict)
    descriptions: dict[tuple[str, str], str] = field(default_factory=dict)

    is_bot = True

    def to_api(self) -> JSON:
        """Render as the User object found in messages."""
        return {
            "id": self.id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
        }

    def me(self) -> JSON:
        """Render as getMe answers, with the bot-only capability fields."""
        return {
            **self.to_api(),
            "can_join_groups": True,
            "can_read_all_group_messages": not self.privacy,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
            "has_topics_enabled": False,
        }


@dataclass
class AdminRights:
    """Administrator rights in a group; defaults are what a typical helper bot is given."""

    can_manage_chat: bool = True
    can_delete_messages: bool = True
    can_manage_video_chats: bool = False
    can_restrict_members: bool = True
    can_promote_members: bool = False
    can_change_info: bool = False
    can_invite_users: bool = True
    can_post_stories: bool = False
    can_edit_stories: bool = False
    can_delete_stories: bool = False
    can_pin_messages: bool = True
    can_manage_topics: bool = True
    is_anonymous: bool = False

    def to_api(self) -> JSON:
        """Render as the rights part of ChatMemberAdministrator."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class Member:
    """A user's or bot's standing in a group."""

    user_id: int
    status: str = "member"  # creator, administrator, member, left or kicked
    rights: AdminRights | None = None

    @property
    def present(self) -> bool:
        """Whether the account is currently in the chat."""
        return self.status in {"creator", "administrator", "member"}

    def can(self, right: str) -> bool:
        """Whether the member holds an administrator right (the creator holds all)."""
        if self.status == "creator":
            return True
        return self.status == "administrator" and bool(getattr(self.rights, right, False))


@dataclass
class Topic:
    """A forum topic; its id is the id of the service message that created it."""

    thread_id: int
    name: str
    icon_color: int = TOPIC_COLORS[0]
    icon_custom_emoji_id: str | None = None
    closed: bool = False
    deleted: bool = False
    creator_id: int | None = None

    def to_api(self) -> JSON:
        """Render as a ForumTopic object."""
        data: JSON = {
            "message_thread_id": self.thread_id,
            "name": self.name,
            "icon_color": self.icon_color,
        }
        if self.icon_custom_emoji_id:
            data["icon_custom_emoji_id"] = self.icon_custom_emoji_id
        return data


@dataclass
class Chat:
    """A private chat, basic group or supergroup (optionally a forum)."""

    id: int
    type: str
    title: str | None = None
    is_forum: bool = False
    username: str | None = None
    members: dict[int, Member] = field(default_factory=dict)
    # Standing given to bots that first appear after the chat was created.
    bot_default: Member | None = None
    topics: dict[int, Topic] = field(default_factory=dict)
    next_message_id: int = 1
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    reply_keyboard: JSON | None = None
    description: str | None = None

    @property
    def is_group(self) -> bool:
        """Whether this is a basic group or supergroup."""
        return self.type in {"group", "supergroup"}

    def to_api(self, owner: User | None = None) -> JSON:
        """Render as the Chat object found in messages."""
        data: JSON = {"id": self.id, "type": self.type}
        if self.type == "private" and owner is not None:
            data["first_name"] = owner.first_name
            if owner.last_name:
                data["last_name"] = owner.last_name
            if owner.username:
                data["username"] = owner.username
        else:
            data["title"] = self.title
            if self.username:
                data["username"] = self.username
            if self.is_forum:
                data["is_forum"] = True
        return data


@dataclass
class StoredFile:
    """A file held by the sandbox: uploaded by the bot or sent by a user."""

    file_id: str
    file_unique_id: str
    kind: str
    content: bytes
    file_path: str
    mime_type: str | None = None
    file_name: str | None = None
    width: int | None = None
    height: int | None = None
    duration: int | None = None
    source_url: str | None = None

    def to_api(self) -> JSON:
        """Render as a File object (getFile)."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.content),
            "file_path": self.file_path,
        }


@dataclass
class Revision:
    """A message's content before an edit."""

    text: str | None
    caption: str | None
    entities: list[JSON]
    reply_markup: JSON | None
    edit_date: int | None


@dataclass
class StoredMessage:
    """A message in a chat as the sandbox keeps it, with test-friendly accessors."""

    chat_id: int
    message_id: int
    date: int
    sender_id: int
    from_bot: bool
    kind: str = "text"  # text, photo, document, voice, video, audio, sticker, location, ...
    text: str | None = None
    entities: list[JSON] = field(default_factory=list)
    caption: str | None = None
    caption_entities: list[JSON] = field(default_factory=list)
    source: str | None = None  # text or caption exactly as sent, before parsing
    parse_mode: str | None = None
    media: JSON = field(default_factory=dict)  # the Bot API fields for photo, document, ...
    file_ids: list[str] = field(default_factory=list)
    media_group_id: str | None = None
    message_thread_id: int | None = None
    is_topic_message: bool = False
    reply_to_message_id: int | None = None
    reply_to_chat_id: int | None = None
    quote: JSON | None = None
    reply_markup: JSON | None = None
    forward_origin: JSON | None = None
    edit_date: int | None = None
    history: list[Revision] = field(default_factory=list)
    deleted: bool = False
    service: bool = False
    has_protected_content: bool = False

    @property
    def html(self) -> str | None:
        """The text or caption as sent with parse_mode HTML, else None."""
        return self.source if (self.parse_mode or "").upper() == "HTML" else None

    @property
    def body(self) -> str | None:
        """The text, or the caption for media messages."""
        return self.text if self.text is not None else self.caption

    @property
    def buttons(self) -> list[JSON]:
        """All inline keyboard buttons, row by row."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [button for row in rows for button in row]

    @property
    def callback_data(self) -> list[str]:
        """The callback_data of every inline button."""
        return [b["callback_data"] for b in self.buttons if "callback_data" in b]

    def snapshot(self) -> Revision:
        """Capture the editable content before an edit."""
        return Revision(
            self.text,
            self.caption,
            copy.deepcopy(self.entities or self.caption_entities),
            copy.deepcopy(self.reply_markup),
            self.edit_date,
        )


@dataclass
class CallbackQuery:
    """A button press waiting for answerCallbackQuery."""

    id: str
    bot_id: int
    user_id: int
    chat_id: int
    message_id: int
    data: str
    answered: bool = False


@dataclass
class CallbackAnswer:
    """What the bot answered to a button press."""

    query_id: str
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int


@dataclass
class RequestRecord:
    """One Bot API request and how the sandbox answered it."""

    method: str
    params: JSON
    status: int
    description: str | None
    bot_id: int | None
    files: list[str] = field(default_factory=list)


@dataclass
class Delivered:
    """What a simulated user action produced: the message and the update queued for the bot."""

    message: StoredMessage | None
    update: JSON | None
    query_id: str | None = None
