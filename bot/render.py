"""One Jinja2 environment for every word a user reads: messages and button labels."""

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound

from bot.locales import Locale
from bot.paths import TEMPLATES_DIR

LABELS_FILE = "labels.yaml"
# An inline keyboard lives beside its message: templates/<locale>/<kind>.buttons.yaml.
BUTTONS_SUFFIX = ".buttons.yaml"


@dataclass(frozen=True)
class Button:
    """An inline button: a plain-text label and either a URL or callback data."""

    text: str
    url: str | None = None
    callback_data: str | None = None


class Renderer:
    """Renders templates/<locale>/<kind>.html; a dealer's folder overrides files by name."""

    def __init__(self, override_dir: Path | None = None) -> None:
        self.search_path = [p for p in (override_dir, TEMPLATES_DIR) if p is not None]
        # Messages are Telegram HTML: everything from users or data is escaped.
        self.html = Environment(
            loader=FileSystemLoader(self.search_path),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        # Button labels are plain text on Telegram: escaping would show "&amp;" to the user.
        self.plain = Environment(autoescape=False, undefined=StrictUndefined)

    def text(self, locale: Locale, kind: str, **context: Any) -> str:
        """A whole message in Telegram's HTML subset."""
        return self.html.get_template(f"{locale}/{kind}.html").render(**context).strip()

    def label(self, locale: Locale, key: str, **context: Any) -> str:
        """A button label or other short plain text."""
        source = self._labels(locale).get(key)
        if source is None:
            raise TemplateNotFound(f"{locale}/{LABELS_FILE}: {key}")
        return self.plain.from_string(source).render(**context).strip()

    def buttons(self, locale: Locale, kind: str, **context: Any) -> list[list[Button]]:
        """The inline keyboard kept beside a template, rendered; [] when it has none.

        The file is a list of rows, each a list of {text, url} or {text, callback}; every value
        is a plain-text template like a label. A dealer's folder overrides it by name too.
        """
        rows = _read_buttons(tuple(self.search_path), locale, kind)

        def render(source: str | None) -> str | None:
            if source is None:
                return None
            return self.plain.from_string(source).render(**context).strip()

        return [
            [
                Button(
                    text=render(button["text"]) or "",
                    url=render(button.get("url")),
                    callback_data=render(button.get("callback")),
                )
                for button in row
            ]
            for row in rows
        ]

    def label_keys(self, locale: Locale) -> set[str]:
        return set(self._labels(locale))

    def _labels(self, locale: Locale) -> dict[str, str]:
        return _read_labels(tuple(self.search_path), locale)


@cache
def _read_labels(search_path: tuple[Path, ...], locale: Locale) -> dict[str, str]:
    for folder in search_path:
        path = folder / locale / LABELS_FILE
        if path.exists():
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            return {str(key): str(value) for key, value in data.items()}
    return {}


@cache
def _read_buttons(
    search_path: tuple[Path, ...], locale: Locale, kind: str
) -> list[list[dict[str, str]]]:
    for folder in search_path:
        path = folder / locale / f"{kind}{BUTTONS_SUFFIX}"
        if path.exists():
            rows = yaml.safe_load(path.read_text(encoding="utf-8")) or []
            return _checked_rows(rows, path)
    return []


def _checked_rows(rows: object, path: Path) -> list[list[dict[str, str]]]:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise ValueError(f"{path}: expected a list of rows, each a list of buttons")
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or "text" not in button:
                raise ValueError(f"{path}: every button needs a text")
            if set(button) - {"text", "url", "callback"} or ("url" in button) == (
                "callback" in button
            ):
                raise ValueError(f"{path}: a button has text and either url or callback")
    return [[{key: str(value) for key, value in button.items()} for button in row] for row in rows]
