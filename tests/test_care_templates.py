"""Care templates: present in every locale, used, valid Telegram HTML, and overridable."""

import re
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from bot.handlers.relay_commands import CANNED_PREFIX
from bot.locales import LOCALES
from bot.paths import TEMPLATES_DIR
from bot.render import BUTTONS_SUFFIX, Renderer
from bot.store_config import StoreConfig
from bot.template_check import check_templates, read_samples, template_names
from scheduler import kinds
from scheduler.answers import CareButton, parse_care_button
from scheduler.campaigns import campaign_templates
from scheduler.messages import UNSUBSCRIBE, Signature, compose

ROOT = Path(__file__).resolve().parents[1]
BIGGEST_ID = 9_223_372_036_854_775_807  # PostgreSQL BIGINT: the longest an id can print


def source_text() -> str:
    return "\n".join(
        path.read_text(encoding="utf-8")
        for folder in ("bot", "scheduler")
        for path in (ROOT / folder).rglob("*.py")
    )


def used_in_code(name: str, source: str) -> bool:
    """Named literally, or built from a quoted suffix (f"car_{reason}" with "plate_taken")."""
    parts = name.split("_")
    candidates = [name] + ["_".join(parts[n:]) for n in range(1, len(parts) - 1)]
    return any(f'"{c}"' in source or f"'{c}'" in source for c in candidates)


def test_every_template_exists_in_every_locale_and_is_used_by_code() -> None:
    names = template_names(Renderer())
    missing = {name: sorted(set(LOCALES) - locales) for name, locales in names.items()}
    assert {name: gone for name, gone in missing.items() if gone} == {}
    care = {kinds.template_of(kind) for kind in kinds.KINDS if kind != kinds.CAMPAIGN}
    assert care <= set(names), f"care kinds without a template: {care - set(names)}"
    source = source_text()
    unused = [
        name
        for name in names
        if name not in care
        and not name.startswith(kinds.CAMPAIGN_TEMPLATE_PREFIX)
        # Canned replies are picked by name at run time (/reply <name>), like campaigns.
        and not name.startswith(CANNED_PREFIX)
        and not used_in_code(name, source)
    ]
    assert unused == []
    assert campaign_templates(Renderer()), "ship at least one campaign template"


def test_the_unused_template_check_can_fail() -> None:
    assert not used_in_code("care_nobody_sends_this", source_text())
    assert used_in_code("greeting", '"greeting"')


def test_every_shipped_template_passes_the_telegram_check() -> None:
    serious = [str(finding) for finding in check_templates(Renderer()) if finding.serious]
    assert serious == []


def test_every_care_template_has_samples_so_the_check_renders_it_for_real() -> None:
    samples = read_samples(Renderer())
    care = [name for name in template_names(Renderer()) if name.startswith(("care_", "campaign_"))]
    assert [name for name in care if name not in samples] == []


def test_the_check_reports_broken_html_long_texts_bad_buttons_and_missing_locales(
    tmp_path: Path,
) -> None:
    for locale in LOCALES:
        (tmp_path / locale).mkdir()
    (tmp_path / "en" / "care_birthday.html").write_text("<b>Happy birthday", "utf-8")
    (tmp_path / "zh-Hant" / "care_birthday.html").write_text("生日快樂" * 1100, "utf-8")
    (tmp_path / "zh-Hans" / "care_birthday.html").write_text("<blink>生日</blink>", "utf-8")
    (tmp_path / "en" / "campaign_only_english.html").write_text("Hello", "utf-8")
    (tmp_path / "en" / f"care_survey{BUTTONS_SUFFIX}").write_text(
        '- - text: "1"\n    callback: "care:score:-:{{ survey_id }}:1:' + "x" * 60 + '"\n'
        '- - text: ""\n    url: "ftp://example.com"\n',
        "utf-8",
    )
    (tmp_path / "en" / f"care_nothing{BUTTONS_SUFFIX}").write_text("[]", "utf-8")
    findings = {
        (finding.locale, finding.template, finding.problem.split(":")[0])
        for finding in check_templates(Renderer(tmp_path))
        if finding.serious
    }
    assert findings == {
        ("en", "care_birthday", "Telegram would refuse it"),
        ("zh-Hant", "care_birthday", "4400 characters; Telegram takes 4096 at most"),
        ("zh-Hans", "care_birthday", "Telegram would refuse it"),
        ("zh-Hant", "campaign_only_english", "missing in this locale"),
        ("zh-Hans", "campaign_only_english", "missing in this locale"),
        ("en", "care_survey", "callback data 'care"),
        ("en", "care_survey", "a button without a label"),
        ("en", "care_survey", "button URL 'ftp"),
        ("en", "care_nothing.buttons.yaml", "buttons for no message"),
    }


def test_a_dealer_template_replaces_the_default_of_the_same_name(
    tmp_path: Path, store_config: StoreConfig
) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "care_birthday.html").write_text(
        "<i>{{ store_name }}</i> says happy birthday, {{ customer_name }}!", "utf-8"
    )
    (tmp_path / "en" / f"care_birthday{BUTTONS_SUFFIX}").write_text(
        '- - text: "Our gift"\n    url: "https://example.com/gift"\n', "utf-8"
    )
    signature = Signature(store_config, ZoneInfo("Asia/Taipei"), "carebot_demo_bot")

    def birthday(renderer: Renderer, locale: str) -> tuple[str, list[list[str]]]:
        message = compose(
            renderer,
            template="care_birthday",
            payload={"customer_id": 1},
            marketing=True,
            locale=locale,
            signature=signature,
            customer_name="Ann & <Bo>",  # type: ignore[arg-type]
        )
        return message.text, [
            [b.url or b.callback_data or "" for b in row] for row in message.buttons
        ]

    text, buttons = birthday(Renderer(tmp_path), "en")
    assert text == (
        "<i>Kaicheng Motors Neihu Service Center</i> says happy birthday, Ann &amp; &lt;Bo&gt;!"
    )
    assert buttons == [["https://example.com/gift"], [UNSUBSCRIBE]]
    shipped, _ = birthday(Renderer(tmp_path), "zh-Hant")  # no override there: the default
    assert shipped == birthday(Renderer(), "zh-Hant")[0]


def test_care_buttons_say_the_same_thing_in_every_locale_and_fit_64_bytes_with_any_id() -> None:
    renderer = Renderer()
    files = sorted({p.name for p in (TEMPLATES_DIR / "en").glob(f"*{BUTTONS_SUFFIX}")})
    context = {
        "bot_username": "a" * 32,
        **dict.fromkeys(("vehicle_id", "appointment_id", "survey_id", "event_id"), BIGGEST_ID),
    }
    for file in files:
        kind = file.removesuffix(BUTTONS_SUFFIX)
        actions = {
            locale: [
                [(b.url, b.callback_data) for b in row]
                for row in renderer.buttons(locale, kind, **context)
            ]
            for locale in LOCALES
        }
        assert actions["en"] == actions["zh-Hant"] == actions["zh-Hans"], file
        for row in actions["en"]:
            for url, data in row:
                if data is not None:
                    assert len(data.encode()) <= 64, data
                    assert parse_care_button(data) is not None, data
                if url is not None:
                    start = re.search(r"\?start=(.*)$", url)
                    assert start and re.fullmatch(r"[A-Za-z0-9_-]{1,64}", start.group(1)), url


def test_care_button_data_parse_into_what_the_handlers_act_on() -> None:
    assert parse_care_button("care:confirm:-:17") == CareButton("confirm", 17)
    assert parse_care_button("care:score:-:5:4") == CareButton("score", 5, 4)
    assert parse_care_button("care:unsub:-") == CareButton("unsub")
    assert parse_care_button("care:score:-:5:9") is None
    assert parse_care_button("care:explode:-:1") is None
    assert parse_care_button("book:day:3:1") is None


def test_samples_file_is_plain_yaml_keyed_by_template() -> None:
    data = yaml.safe_load((TEMPLATES_DIR / "samples.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict) and "_common" in data
