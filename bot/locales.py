"""The languages Carebot speaks and how Telegram's language codes map onto them."""

from typing import Literal, get_args

Locale = Literal["zh-Hant", "zh-Hans", "en"]
LOCALES: tuple[Locale, ...] = get_args(Locale)

# Telegram sends IETF tags such as "zh-hant", "zh-tw" or plain "zh" (clients differ).
_TRADITIONAL = {"zh-hant", "zh-tw", "zh-hk", "zh-mo"}
_SIMPLIFIED = {"zh", "zh-hans", "zh-cn", "zh-sg", "zh-my"}


def locale_from_language_code(code: str | None, default: Locale) -> Locale:
    """Pick the closest supported locale for a Telegram language_code."""
    if not code:
        return default
    code = code.lower().replace("_", "-")
    if code in _TRADITIONAL or code.startswith("zh-hant"):
        return "zh-Hant"
    if code in _SIMPLIFIED or code.startswith("zh-hans"):
        return "zh-Hans"
    if code.startswith("zh"):
        return default if default != "en" else "zh-Hans"
    if code.startswith("en"):
        return "en"
    return default


def parse_locale(value: str) -> Locale:
    """Accept a locale name case-insensitively ("zh-hant" -> "zh-Hant")."""
    for locale in LOCALES:
        if value.strip().lower() == locale.lower():
            return locale
    raise ValueError(f"unknown locale {value!r}; use one of {', '.join(LOCALES)}")


def as_locale(value: str | None, default: Locale) -> Locale:
    """A stored locale string as a Locale, falling back to the default."""
    for locale in LOCALES:
        if value == locale:
            return locale
    return default
