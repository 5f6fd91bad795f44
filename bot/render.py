"""One Jinja2 environment for every word a user reads: messages and button labels."""

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound

from bot.locales import Locale
from bot.paths import TEMPLATES_DIR

LABELS_FILE = "labels.yaml"


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
