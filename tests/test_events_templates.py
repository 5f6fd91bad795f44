"""Every club-event message and label renders in every locale, in each of its branches."""

import datetime as dt

import pytest

from bot.locales import LOCALES, Locale
from bot.paths import TEMPLATES_DIR
from bot.render import Renderer
from bot.sandbox.html import parse_html
from bot.store_config import StoreConfig
from scheduler.messages import Signature, compose
from tests.care_world import TAIPEI

STARTS = dt.datetime(2026, 12, 5, 14, 0, tzinfo=TAIPEI)
EVENT = {
    "id": 7,
    "title": "Coffee & <b>detailing</b>",
    "description": "Bring the family",
    "when": "Sat 5 Dec, 14:00",
    "ends": "Sat 5 Dec, 17:00",
    "deadline": "Thu 3 Dec, 18:00",
    "place": "Neihu showroom",
    "latitude": 25.08,
    "longitude": 121.57,
    "seats": 20,
    "seats_left": 3,
    "companions_allowed": 2,
    "confirmed_people": 17,
    "confirmed_parties": 9,
    "waitlisted": 4,
    "attended": 0,
    "has_photo": True,
    "audience": "Toyota",
    "code": "K7P4Q",
    "cancelled": False,
    "closed": None,
    "party_size": 3,
    "position": 2,
    "reason": "Sign-up has closed.",
    "invited": 12,
    "told": 5,
    "changed": True,
    "parties": 9,
    "people": 17,
    "page": 1,
    "pages": 2,
    "count": 13,
    "problem": "That is too long.",
    "editing": True,
    "most_seats": 10000,
    "most_companions": 20,
    "field": "title",
}
VARIANTS = [
    {},
    {"status": "confirmed"},
    {"status": "waitlisted"},
    {"status": "attended"},
    {"status": None, "cancelled": True},
    {"status": None, "closed": "deadline_passed"},
    {"status": None, "closed": "not_open", "latitude": None, "ends": None, "deadline": None},
    {"invited": None, "changed": False, "problem": None, "editing": False, "seats_left": 0},
]
FIELDS = [
    "title",
    "description",
    "place",
    "location",
    "starts_at",
    "ends_at",
    "seats",
    "signup_deadline",
    "companions_allowed",
    "audience",
    "audience_brands",
    "audience_models",
    "audience_segment",
    "audience_fleet",
    "photo",
    "preview",
]


def _kinds() -> list[str]:
    return sorted(path.stem for path in (TEMPLATES_DIR / "en").glob("event_*.html"))


@pytest.mark.parametrize("locale", LOCALES)
def test_every_event_message_renders_in_every_branch(locale: Locale) -> None:
    render = Renderer()
    events = [
        {"title": "A & B", "when": "Sat", "place": None, "seats_left": n, "status": status}
        for n, status in (
            (0, None),
            (3, None),
            (0, "confirmed"),
            (0, "waitlisted"),
            (0, "attended"),
        )
    ]
    summaries = [EVENT | {"status": status} for status in ("draft", "published", "cancelled")]
    for kind in _kinds():
        for variant in VARIANTS:
            for field in FIELDS if kind == "event_adv_ask" else ["title"]:
                context = EVENT | {"status": "published"} | variant | {"field": field}
                if kind.startswith("event_adv_card"):
                    context["status"] = "draft"
                context["events"] = summaries if kind == "event_adv_list" else events
                text = render.text(locale, kind, **context)
                # Valid Telegram HTML, and a title from an advisor is shown, never read as markup.
                shown, _ = parse_html(text)
                assert shown.strip(), kind
                assert "<b>detailing" not in text, kind


@pytest.mark.parametrize("locale", LOCALES)
def test_event_notices_render_like_care_messages_with_a_link_to_the_event(
    locale: Locale, store_config: StoreConfig
) -> None:
    render = Renderer()
    signature = Signature(store=store_config, tz=TAIPEI, bot_username="carebot_test_bot")
    payload = {
        "event_id": 7,
        "title": "Coffee",
        "place": "Neihu",
        "starts_at": STARTS.isoformat(),
        "ends_at": None,
        "party_size": 2,
        "changed": ["place"],
    }
    for template in ("care_event_changed", "care_event_cancelled", "care_event_promoted"):
        message = compose(
            render,
            template=template,
            payload=payload,
            marketing=False,
            locale=locale,
            signature=signature,
            customer_name="Ann",
        )
        assert "Coffee" in message.text
        links = [button.url for row in message.buttons for button in row]
        if template != "care_event_cancelled":
            assert links == ["https://t.me/carebot_test_bot?start=event_7"]


@pytest.mark.parametrize("locale", LOCALES)
def test_every_event_label_renders(locale: Locale) -> None:
    render = Renderer()
    keys = [key for key in render.label_keys(locale) if key.startswith("event_")]
    assert len(keys) > 80
    for key in keys:
        assert render.label(
            locale, key, n=2, title="A", day="Sat", attended=True, name="Ann", party_size=2
        )
