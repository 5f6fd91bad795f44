"""Turning a text plus parse_mode or explicit entities into what Telegram stores."""

from __future__ import annotations

from typing import Any

from bot.sandbox.entities import Entity, clean_entities
from bot.sandbox.errors import bad_request, violation
from bot.sandbox.html import HtmlError, parse_html
from bot.sandbox.markdown import parse_markdown, parse_markdown_v2


def parse_formatting(text: str, mode: Any, entities: Any) -> tuple[str, list[Entity]]:
    """Return (plain text, entities); parse errors are Telegram's "can't parse entities"."""
    if mode:
        parser = {
            "html": parse_html,
            "markdownv2": parse_markdown_v2,
            "markdown": parse_markdown,
        }.get(str(mode).lower())
        if parser is None:
            raise bad_request("unsupported parse_mode")
        try:
            return parser(text)
        except HtmlError as error:
            raise violation(f"can't parse entities: {error}") from None
    if entities:
        if not isinstance(entities, list) or not all(
            isinstance(e, dict) and {"type", "offset", "length"} <= e.keys() for e in entities
        ):
            raise violation("can't parse entities JSON object")
        return text, clean_entities(text, entities)
    return text, []
