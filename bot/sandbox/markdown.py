"""Telegram's MarkdownV2 and legacy Markdown parse modes, with Telegram's error texts."""

from __future__ import annotations

from dataclasses import dataclass

from bot.sandbox.entities import Entity, sort_entities, utf16_len
from bot.sandbox.html import HtmlError as MarkupError

RESERVED = set("_*[]()~`>#+-=|{}.!")
_CLOSERS = {
    "bold": "*",
    "italic": "_",
    "underline": "__",
    "strikethrough": "~",
    "spoiler": "||",
    "text_link": "]",
}


@dataclass
class _Open:
    type: str
    start: int  # UTF-16 offset in the produced text
    byte_offset: int


class _V2Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.i = 0
        self.out: list[str] = []
        self.length = 0
        self.stack: list[_Open] = []
        self.entities: list[Entity] = []
        self.quote_start: int | None = None

    def byte_offset(self, index: int) -> int:
        return len(self.source[:index].encode("utf-8"))

    def emit(self, text: str) -> None:
        self.out.append(text)
        self.length += utf16_len(text)

    def add(self, kind: str, start: int, **extra: str) -> None:
        if self.length > start:
            self.entities.append(
                {"type": kind, "offset": start, "length": self.length - start, **extra}
            )

    def run(self) -> tuple[str, list[Entity]]:
        src = self.source
        while self.i < len(src):
            char = src[self.i]
            at_line_start = self.i == 0 or src[self.i - 1] == "\n"
            if at_line_start and char == ">":
                if self.quote_start is None:
                    self.quote_start = self.length
                self.i += 1
                continue
            if (
                char == "\n"
                and self.quote_start is not None
                and not src.startswith(">", self.i + 1)
            ):
                self.add("blockquote", self.quote_start)
                self.quote_start = None
            if char == "\\" and self.i + 1 < len(src) and 0 < ord(src[self.i + 1]) < 127:
                self.emit(src[self.i + 1])
                self.i += 2
                continue
            if char == "`":
                self.code()
                continue
            if self.closes_top():
                continue
            if char in "*~" or (char == "_") or src.startswith("||", self.i):
                self.open_simple()
                continue
            if char == "[" or (char == "!" and src.startswith("![", self.i)):
                self.stack.append(
                    _Open(
                        "text_link" if char == "[" else "custom_emoji",
                        self.length,
                        self.byte_offset(self.i),
                    )
                )
                self.i += 1 if char == "[" else 2
                continue
            if char in RESERVED:
                raise MarkupError(
                    f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
                )
            self.emit(char)
            self.i += 1
        if self.quote_start is not None:
            self.add("blockquote", self.quote_start)
        if self.stack:
            raise MarkupError(
                f"Can't find end of the entity starting at byte offset {self.stack[-1].byte_offset}"
            )
        return "".join(self.out), sort_entities(self.entities)

    def open_simple(self) -> None:
        src = self.source
        if src.startswith("__", self.i):
            kind, width = "underline", 2
        elif src.startswith("||", self.i):
            kind, width = "spoiler", 2
        else:
            kind, width = {"*": "bold", "_": "italic", "~": "strikethrough"}[src[self.i]], 1
        self.stack.append(_Open(kind, self.length, self.byte_offset(self.i)))
        self.i += width

    def closes_top(self) -> bool:
        if not self.stack:
            return False
        top = self.stack[-1]
        closer = _CLOSERS.get(top.type, "]")
        if not self.source.startswith(closer, self.i):
            return False
        # Inside italic, "__" opens underline; only "___" closes the italic before it.
        if (
            top.type == "italic"
            and self.source.startswith("__", self.i)
            and not self.source.startswith("___", self.i)
        ):
            return False
        self.stack.pop()
        self.i += len(closer)
        if top.type in {"text_link", "custom_emoji"}:
            self.link_target(top)
        else:
            self.add(top.type, top.start)
        return True

    def link_target(self, opened: _Open) -> None:
        src = self.source
        if not src.startswith("(", self.i):
            if opened.type == "custom_emoji":
                raise MarkupError("Custom emoji entity must contain a tg://emoji URL")
            # "[text]" without a URL is plain text in Telegram.
            return
        j = self.i + 1
        url: list[str] = []
        while j < len(src) and src[j] != ")":
            if src[j] == "\\" and j + 1 < len(src):
                j += 1
            url.append(src[j])
            j += 1
        if j >= len(src):
            raise MarkupError(f"Can't find end of a URL at byte offset {self.byte_offset(self.i)}")
        self.i = j + 1
        target = "".join(url)
        if opened.type == "custom_emoji":
            emoji_id = target.removeprefix("tg://emoji?id=")
            self.add("custom_emoji", opened.start, custom_emoji_id=emoji_id)
        elif target.startswith("tg://user?id="):
            self.add("text_mention", opened.start)
            self.entities[-1]["user"] = {
                "id": int(target.split("=", 1)[1] or 0),
                "is_bot": False,
                "first_name": "",
            }
        else:
            self.add("text_link", opened.start, url=target)

    def code(self) -> None:
        src = self.source
        begin = self.i
        fence = "```" if src.startswith("```", self.i) else "`"
        j = self.i + len(fence)
        language = ""
        if fence == "```":
            newline = src.find("\n", j)
            first_line = src[j:newline] if newline != -1 else ""
            if newline != -1 and first_line and " " not in first_line and "`" not in first_line:
                language, j = first_line, newline + 1
        start = self.length
        while True:
            if j >= len(src):
                kind = "Pre" if fence == "```" else "Code"
                raise MarkupError(
                    f"Can't find end of {kind} entity at byte offset {self.byte_offset(begin)}"
                )
            if src[j] == "\\" and j + 1 < len(src) and src[j + 1] in "`\\":
                self.emit(src[j + 1])
                j += 2
                continue
            if src.startswith(fence, j):
                break
            self.emit(src[j])
            j += 1
        self.i = j + len(fence)
        if fence == "```":
            extra = {"language": language} if language else {}
            self.add("pre", start, **extra)
        else:
            self.add("code", start)


def parse_markdown_v2(source: str) -> tuple[str, list[Entity]]:
    """Parse MarkdownV2 into plain text and entities; raise MarkupError like Telegram would."""
    return _V2Parser(source).run()


def parse_markdown(source: str) -> tuple[str, list[Entity]]:
    """Parse legacy Markdown (bold, italic, code, pre, links) without nesting."""
    out: list[str] = []
    entities: list[Entity] = []
    length = 0
    i = 0
    markers = {"*": "bold", "_": "italic", "`": "code"}
    while i < len(source):
        char = source[i]
        if char == "\\" and i + 1 < len(source) and source[i + 1] in "_*`[":
            out.append(source[i + 1])
            length += 1
            i += 2
            continue
        if char in markers or char == "[":
            fence = "```" if source.startswith("```", i) else ("]" if char == "[" else char)
            opener = 3 if fence == "```" else 1
            end = source.find(fence, i + opener)
            if end == -1:
                offset = len(source[:i].encode("utf-8"))
                raise MarkupError(f"Can't find end of the entity starting at byte offset {offset}")
            inner = source[i + opener : end]
            entity: Entity = {"offset": length, "length": utf16_len(inner)}
            i = end + len(fence)
            if fence == "```":
                entity["type"] = "pre"
            elif char == "[":
                close = source.find(")", i) if source.startswith("(", i) else -1
                if close == -1:
                    out.append(inner)
                    length += utf16_len(inner)
                    continue
                entity.update(type="text_link", url=source[i + 1 : close])
                i = close + 1
            else:
                entity["type"] = markers[char]
            out.append(inner)
            length += utf16_len(inner)
            if entity["length"]:
                entities.append(entity)
            continue
        out.append(char)
        length += utf16_len(char)
        i += 1
    return "".join(out), sort_entities(entities)
