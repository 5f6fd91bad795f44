"""Every message and label exists in every locale, so no customer meets a missing text."""

import yaml

from bot.locales import LOCALES
from bot.paths import TEMPLATES_DIR


def test_every_message_template_exists_in_every_locale() -> None:
    kinds = {
        locale: {p.stem for p in (TEMPLATES_DIR / locale).glob("*.html")} for locale in LOCALES
    }
    every = set().union(*kinds.values())
    missing = {locale: sorted(every - found) for locale, found in kinds.items() if every - found}
    assert missing == {}


def test_every_label_exists_in_every_locale() -> None:
    keys = {
        locale: set(yaml.safe_load((TEMPLATES_DIR / locale / "labels.yaml").read_text("utf-8")))
        for locale in LOCALES
    }
    every = set().union(*keys.values())
    missing = {locale: sorted(every - found) for locale, found in keys.items() if every - found}
    assert missing == {}
