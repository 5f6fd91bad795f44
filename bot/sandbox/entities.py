"""Message entities: UTF-16 measurement and the entities Telegram detects on its own."""

from __future__ import annotations

import re
from typing import Any

Entity = dict[str, Any]

# Telegram detects these in every message; the patterns cover the common shapes, not every edge.
_AUTO_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("url", re.compile(r"(?<![\w@/])(?:https?://|www\.)[^\s<>\"]+[^\s<>\".,;:!?)\]']")),
    ("email", re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")),
    ("bot_command", re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?!\w)")),
    ("mention", re.compile(r"(?<![\w@])@[A-Za-z0-9_]{4,32}(?!\w)")),
    ("hashtag", re.compile(r"(?<![\w#])#\w*[^\W\d]\w*")),
    ("cashtag", re.compile(r"(?<![\w$])\$[A-Z]{3,8}(?![A-Za-z])")),
)


def utf16_len(text: str) -> int:
    """Return the length of ``text`` in UTF-16 code units, as Telegram measures text."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def utf16_slice(text: str, offset: int, length: int) -> str:
    """Return the substring addressed by a UTF-16 offset and length."""
    encoded = text.encode("utf-16-le")
    return encoded[offset * 2 : (offset + length) * 2].decode("utf-16-le", errors="replace")


def sort_entities(entities: list[Entity]) -> list[Entity]:
    """Order entities like Telegram: by offset, longer (outer) entities first."""
    return sorted(entities, key=lambda e: (e["offset"], -e["length"]))


def detect_entities(text: str, existing: list[Entity] | None = None) -> list[Entity]:
    """Add the entities Telegram finds by itself (commands, mentions, links) to ``existing``."""
    found: list[Entity] = list(existing or [])
    taken: list[tuple[int, int]] = [
        (e["offset"], e["offset"] + e["length"])
        for e in found
        if e["type"] in {"text_link", "text_mention", "code", "pre", "url", "email"}
    ]
    for kind, pattern in _AUTO_PATTERNS:
        for match in pattern.finditer(text):
            start = utf16_len(text[: match.start()])
            length = utf16_len(match.group(0))
            end = start + length
            if any(start < t_end and t_start < end for t_start, t_end in taken):
                continue
            taken.append((start, end))
            found.append({"type": kind, "offset": start, "length": length})
    return sort_entities(found)


def clean_entities(text: str, entities: list[Entity]) -> list[Entity]:
    """Drop empty or out-of-range entities and clip the rest, as Telegram does silently."""
    total = utf16_len(text)
    cleaned: list[Entity] = []
    for entity in entities:
        offset = max(0, int(entity.get("offset", 0)))
        end = min(total, offset + int(entity.get("length", 0)))
        if end <= offset:
            continue
        cleaned.append({**entity, "offset": offset, "length": end - offset})
    return sort_entities(cleaned)
