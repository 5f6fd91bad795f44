"""Strict parser for Telegram's HTML parse mode, answering with Telegram's error texts."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.sandbox.entities import Entity, sort_entities, utf16_len

_SIMPLE_TAGS: dict[str, str] = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
}
_ALLOWED_TAGS = {*_SIMPLE_TAGS, "a", "span", "tg-emoji"}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


class HtmlError(ValueError):
    """A parse failure; ``str()`` is the reason Telegram puts after "can't parse entities:"."""


@dataclass
class _Open:
    tag: str
    attrs: dict[str, str]
    byte_offset: int
    start: int
    children: list[Entity] = field(default_factory=list)


def _byte_offset(source: str, index: int) -> int:
    return len(source[:index].encode("utf-8"))


def _decode_entity(source: str, index: int) -> tuple[str, int] | None:
    """Decode the character reference at ``index`` (which holds '&'); None if there is none."""
    end = index + 1
    n = len(source)
    if end < n and source[end] == "#":
        end += 1
        hexadecimal = end < n and source[end] in "xX"
        if hexadecimal:
            end += 1
        digits_start = end
        allowed = "0123456789abcdefABCDEF" if hexadecimal else "0123456789"
        while end < n and source[end] in allowed:
            end += 1
        if end == digits_start:
            return None
        code = int(source[digits_start:end], 16 if hexadecimal else 10)
        if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            return None
        decoded = chr(code)
    else:
        while end < n and source[end].isascii() and source[end].isalpha():
            end += 1
        name = source[index + 1 : end]
        if name not in _NAMED_ENTITIES:
            return None
        decoded = _NAMED_ENTITIES[name]
    if end < n and source[end] == ";":
        end += 1
    return decoded, end - index


def _unescape(value: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(value):
        if value[i] == "&" and (hit := _decode_entity(value, i)):
            out.append(hit[0])
            i += hit[1]
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.pos = 0
        self.out: list[str] = []
        self.length = 0  # UTF-16 length of the text produced so far
        self.stack: list[_Open] = []
        self.entities: list[Entity] = []

    def emit(self, text: str) -> None:
        self.out.append(text)
        self.length += utf16_len(text)

    def error(self, reason: str, index: int) -> HtmlError:
        return HtmlError(f"{reason} at byte offset {_byte_offset(self.source, index)}")

    def run(self) -> tuple[str, list[Entity]]:
        source = self.source
        while self.pos < len(source):
            char = source[self.pos]
            if char == "&":
                hit = _decode_entity(source, self.pos)
                if hit is None:
                    # A lone ampersand is kept literally, as Telegram does.
                    self.emit("&")
                    self.pos += 1
                else:
                    self.emit(hit[0])
                    self.pos += hit[1]
            elif char == "<":
                if self.pos + 1 < len(source) and source[self.pos + 1] == "/":
                    self.end_tag()
                else:
                    self.start_tag()
            else:
                nxt = source.find("<", self.pos)
                amp = source.find("&", self.pos)
                stops = [p for p in (nxt, amp) if p != -1]
                stop = min(stops) if stops else len(source)
                self.emit(source[self.pos : stop])
                self.pos = stop
        if self.stack:
            raise HtmlError(
                f'Can\'t find end tag corresponding to start tag "{self.stack[-1].tag}"'
            )
        return "".join(self.out), sort_entities(self.entities)

    def start_tag(self) -> None:
        source = self.source
        begin = self.pos
        i = begin + 1
        while i < len(source) and not source[i].isspace() and source[i] not in ">/":
            i += 1
        tag = source[begin + 1 : i].lower()
        if tag not in _ALLOWED_TAGS:
            raise self.error(f'Unsupported start tag "{tag}"', begin)
        attrs: dict[str, str] = {}
        while True:
            while i < len(source) and (source[i].isspace() or source[i] == "/"):
                i += 1
            if i >= len(source):
                raise self.error("Unclosed start tag", begin)
            if source[i] == ">":
                i += 1
                break
            name_start = i
            while i < len(source) and not source[i].isspace() and source[i] not in "=>":
                i += 1
            name = source[name_start:i].lower()
            while i < len(source) and source[i].isspace():
                i += 1
            if i >= len(source) or source[i] != "=":
                # Value-less attributes are only meaningful for blockquote's "expandable".
                attrs[name] = ""
                continue
            i += 1
            while i < len(source) and source[i].isspace():
                i += 1
            if i >= len(source):
                raise self.error("Unclosed start tag", begin)
            if source[i] in "\"'":
                quote = source[i]
                close = source.find(quote, i + 1)
                if close == -1:
                    raise self.error("Unclosed start tag", begin)
                value = source[i + 1 : close]
                i = close + 1
            else:
                value_start = i
                while i < len(source) and not source[i].isspace() and source[i] != ">":
                    i += 1
                value = source[value_start:i]
            attrs[name] = _unescape(value)
        if tag == "span" and attrs.get("class") != "tg-spoiler":
            raise self.error('Tag "span" must have class "tg-spoiler"', begin)
        if tag == "tg-emoji" and not attrs.get("emoji-id", "").isdigit():
            raise self.error("Invalid custom emoji identifier specified", begin)
        self.stack.append(_Open(tag, attrs, _byte_offset(source, begin), self.length))
        self.pos = i

    def end_tag(self) -> None:
        source = self.source
        begin = self.pos
        if not self.stack:
            raise self.error("Unexpected end tag", begin)
        close = source.find(">", begin)
        if close == -1:
            raise self.error("Unclosed end tag", begin)
        tag = source[begin + 2 : close].strip().lower()
        opened = self.stack[-1]
        if tag != opened.tag:
            raise self.error(f'End tag "{tag}" doesn\'t match start tag "{opened.tag}"', begin)
        self.stack.pop()
        self.pos = close + 1
        self.close_entity(opened)

    def close_entity(self, opened: _Open) -> None:
        length = self.length - opened.start
        entity: Entity = {"type": "", "offset": opened.start, "length": length}
        tag = opened.tag
        if tag == "a":
            href = opened.attrs.get("href", "")
            if href.startswith("tg://user?id="):
                entity["type"] = "text_mention"
                entity["user"] = {
                    "id": int(href.split("=", 1)[1] or 0),
                    "is_bot": False,
                    "first_name": "",
                }
            else:
                entity["type"] = "text_link"
                entity["url"] = href or "".join(self.out)[-length:]
        elif tag == "span":
            entity["type"] = "spoiler"
        elif tag == "tg-emoji":
            entity["type"] = "custom_emoji"
            entity["custom_emoji_id"] = opened.attrs["emoji-id"]
        elif tag == "blockquote" and "expandable" in opened.attrs:
            entity["type"] = "expandable_blockquote"
        else:
            entity["type"] = _SIMPLE_TAGS[tag]
        if tag == "code" and self.stack and self.stack[-1].tag == "pre":
            language = opened.attrs.get("class", "")
            if language.startswith("language-"):
                # <pre><code class="language-x"> is one pre entity carrying the language.
                self.stack[-1].attrs["_language"] = language.removeprefix("language-")
                return
        if tag == "pre" and opened.attrs.get("_language"):
            entity["language"] = opened.attrs["_language"]
        if length > 0:
            self.entities.append(entity)


def parse_html(source: str) -> tuple[str, list[Entity]]:
    """Parse Telegram HTML into plain text and entities; raise HtmlError like Telegram would."""
    return _Parser(source).run()
