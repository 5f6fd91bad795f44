"""Unit checks for the sandbox's HTML/Markdown parsers, spec checker and flood control."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.sandbox.errors import ApiError
from bot.sandbox.html import HtmlError, parse_html
from bot.sandbox.limits import FloodControl, Limits, ManualClock
from bot.sandbox.markdown import parse_markdown_v2
from bot.sandbox.spec import Spec

SPEC_PATH = Path(__file__).resolve().parents[2] / "shared/telegram-bot-api/api.json"


def kinds(entities: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return [(e["type"], e["offset"], e["length"]) for e in entities]


def test_html_supported_tags_and_entities() -> None:
    text, entities = parse_html(
        '<b>B</b><strong>S</strong><i>I</i><u>U</u><s>X</s><tg-spoiler>P</tg-spoiler>'
        '<span class="tg-spoiler">Q</span><a href="https://x.org?a=1&amp;b=2">L</a>'
        '<code>c</code><pre><code class="language-python">p</code></pre>'
        '<blockquote expandable>E</blockquote><tg-emoji emoji-id="5368324170671202286">👍'
        "</tg-emoji> &lt;&gt;&quot;&#65;&#x42; & &copy;"
    )
    assert text == 'BSIUXPQLcpE👍 <>"AB & &copy;'
    assert [e["type"] for e in entities] == [
        "bold", "bold", "italic", "underline", "strikethrough", "spoiler", "spoiler",
        "text_link", "code", "pre", "expandable_blockquote", "custom_emoji",
    ]
    link = next(e for e in entities if e["type"] == "text_link")
    assert link["url"] == "https://x.org?a=1&b=2"
    pre = next(e for e in entities if e["type"] == "pre")
    assert pre["language"] == "python"


def test_html_offsets_are_utf16() -> None:
    text, entities = parse_html("🚗 <b>ready</b>")
    assert text == "🚗 ready"
    assert kinds(entities) == [("bold", 3, 5)]


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("<div>x</div>", 'Unsupported start tag "div" at byte offset 0'),
        ("é <", 'Unsupported start tag "" at byte offset 3'),
        ("</b>", "Unexpected end tag at byte offset 0"),
        ('<a href="x>y</a>', "Unclosed start tag at byte offset 0"),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("<i><b>x</i></b>", 'End tag "i" doesn\'t match start tag "b" at byte offset 7'),
    ],
)
def test_html_errors(source: str, reason: str) -> None:
    with pytest.raises(HtmlError) as caught:
        parse_html(source)
    assert str(caught.value) == reason


def test_markdown_v2() -> None:
    text, entities = parse_markdown_v2(r"*Hi* _there_ __u__ ~s~ ||p|| [site](https://a.b/c\)) 5\!")
    assert text == "Hi there u s p site 5!"
    assert [e["type"] for e in entities] == [
        "bold", "italic", "underline", "strikethrough", "spoiler", "text_link",
    ]
    assert entities[-1]["url"] == "https://a.b/c)"
    with pytest.raises(HtmlError, match="Can't find end of the entity starting at byte offset 0"):
        parse_markdown_v2("*open")


def test_flood_control_windows() -> None:
    clock = ManualClock()
    flood = FloodControl(Limits(per_chat_burst=1, group_per_minute=2), clock)
    flood.check(1, -5, is_group=True)
    with pytest.raises(ApiError) as caught:
        flood.check(1, -5, is_group=True)
    assert caught.value.code == 429 and caught.value.parameters == {"retry_after": 1}
    clock.advance(1)
    flood.check(1, -5, is_group=True)
    clock.advance(1)
    with pytest.raises(ApiError) as caught:
        flood.check(1, -5, is_group=True)
    assert caught.value.description == "Too Many Requests: retry after 58"
    assert flood.refused == 2


@pytest.mark.skipif(not SPEC_PATH.exists(), reason=f"Bot API spec not found at {SPEC_PATH}")
def test_spec_checks_unions_subtypes_and_coercion() -> None:
    spec = Spec.load(SPEC_PATH)
    assert spec.method_name("SENDMESSAGE") == "sendMessage"
    clean = spec.check_request("sendMessage", {
        "chat_id": "-1001000000001", "text": "x", "disable_notification": "true",
        "reply_parameters": '{"message_id": "5", "quote": "x"}',
    }, {})
    assert clean.errors == [] and clean.remarks == []
    album = spec.check_request("sendMediaGroup", {
        "chat_id": 1,
        "media": [{"type": "photo", "media": "attach://a"}, {"type": "video", "media": "id"}],
    }, {})
    assert album.errors == []
    wrong = spec.check_request("sendMediaGroup", {
        "chat_id": 1, "media": [{"type": "sticker", "media": "id"}],
    }, {})
    assert wrong.errors == ['media[0]: unsupported type "sticker"']
    scope = spec.check_request("setMyCommands", {
        "commands": [{"command": "start", "description": "Start"}],
        "scope": {"type": "chat"},
    }, {})
    assert scope.errors == ['scope: field "chat_id" of BotCommandScopeChat is required']
