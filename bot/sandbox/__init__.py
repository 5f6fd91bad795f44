"""A local stand-in for the Telegram Bot API, used in tests and for manual runs."""

from bot.sandbox.errors import ApiError
from bot.sandbox.faults import Faults
from bot.sandbox.limits import Limits, ManualClock
from bot.sandbox.methods import implemented
from bot.sandbox.records import (
    AdminRights,
    BotAccount,
    CallbackAnswer,
    Chat,
    Delivered,
    Member,
    RequestRecord,
    StoredFile,
    StoredMessage,
    Topic,
    User,
)
from bot.sandbox.request import SandboxRequest
from bot.sandbox.server import SandboxServer, serve_http
from bot.sandbox.spec import Spec
from bot.sandbox.standalone import run_standalone
from bot.sandbox.world import GENERAL_TOPIC, Sandbox

__all__ = [
    "GENERAL_TOPIC",
    "AdminRights",
    "ApiError",
    "BotAccount",
    "CallbackAnswer",
    "Chat",
    "Delivered",
    "Faults",
    "Limits",
    "ManualClock",
    "Member",
    "RequestRecord",
    "Sandbox",
    "SandboxRequest",
    "SandboxServer",
    "Spec",
    "StoredFile",
    "StoredMessage",
    "Topic",
    "User",
    "implemented",
    "run_standalone",
    "serve_http",
]
