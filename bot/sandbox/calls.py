"""The request being served and the answer a transport gives back."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.sandbox.params import Params
from bot.sandbox.records import JSON, BotAccount

if TYPE_CHECKING:
    from bot.sandbox.world import Sandbox


@dataclass
class Answer:
    """What a transport should do with a request: answer it, hold it, or drop the connection."""

    status: int
    body: JSON
    action: str = "respond"  # respond, hold or drop

    def payload(self) -> bytes:
        """The JSON body as bytes."""
        return json.dumps(self.body, ensure_ascii=False).encode("utf-8")


@dataclass
class Result:
    """A method's successful result, optionally with the description Telegram adds."""

    value: Any
    description: str | None = None


@dataclass
class Call:
    """One Bot API request being served."""

    sandbox: Sandbox
    bot: BotAccount
    params: Params
    method: str
    read_timeout: float | None = None
