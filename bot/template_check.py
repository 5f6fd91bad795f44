"""`carebot templates check`: every template in every locale, rendered and held to Telegram's rules.

Each message template is rendered with its sample data and parsed with the sandbox's strict
Telegram-HTML parser (the one the sandbox answers "can't parse entities" with); the text must not
be empty or longer than Telegram's 4,096 characters, and its buttons (.buttons.yaml) must have a
label, a URL or callback data of at most 64 bytes, and fit Telegram's keyboard limits. A template
missing in a locale, labels missing in one, and button files without a message are reported too.

Sample data live in templates/samples.yaml (a dealer's folder may hold its own, read first):
one mapping per template name, merged over `_common`. A template without samples is rendered
with placeholders, so its markup is still checked; the report notes it.
"""

from dataclasses import dataclass
from typing import Any

import yaml
from jinja2 import ChainableUndefined, Environment, TemplateError

from bot.locales import LOCALES
from bot.render import BUTTONS_SUFFIX, Button, Renderer
from bot.sandbox.entities import utf16_len
from bot.sandbox.html import HtmlError, parse_html

SAMPLES_FILE = "samples.yaml"
MAX_TEXT = 4096
MAX_CALLBACK_BYTES = 64
MAX_BUTTONS_PER_ROW = 8
MAX_BUTTONS = 100
URL_SCHEMES = ("https://", "http://", "tg://")


@dataclass(frozen=True)
class Finding:
    template: str
    locale: str | None
    problem: str
    # False for notes that do not make the check fail.
    serious: bool = True

    def __str__(self) -> str:
        where = f"{self.locale}/{self.template}" if self.locale else self.template
        return f"{'error' if self.serious else 'note'}: {where}: {self.problem}"


class _Placeholder(ChainableUndefined):
    """Stands in for missing sample data: shows its name, and survives calls and lookups."""

    def __str__(self) -> str:
        return f"[{self._undefined_name}]"

    def __call__(self, *args: Any, **kwargs: Any) -> "_Placeholder":
        return self

    def __format__(self, spec: str) -> str:
        return str(self)


def template_names(renderer: Renderer) -> dict[str, set[str]]:
    """Message template name -> the locales that have it (any folder of the search path)."""
    found: dict[str, set[str]] = {}
    for folder in renderer.search_path:
        for locale in LOCALES:
            for path in (folder / locale).glob("*.html"):
                found.setdefault(path.stem, set()).add(locale)
    return found


def read_samples(renderer: Renderer) -> dict[str, dict[str, Any]]:
    samples: dict[str, dict[str, Any]] = {}
    for folder in reversed(renderer.search_path):  # the dealer's folder wins
        path = folder / SAMPLES_FILE
        if path.exists():
            samples.update(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    return samples


def check_templates(renderer: Renderer) -> list[Finding]:
    """Everything that would break or be refused by Telegram; [] when all is well."""
    findings: list[Finding] = []
    samples = read_samples(renderer)
    common = samples.get("_common", {})
    placeholders = Environment(
        loader=renderer.html.loader,
        autoescape=True,
        undefined=_Placeholder,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    for name, locales in sorted(template_names(renderer).items()):
        for locale in LOCALES:
            if locale not in locales:
                findings.append(Finding(name, locale, "missing in this locale"))
                continue
            sample = samples.get(name)
            if sample is None:
                findings += _check_with_placeholders(placeholders, name, locale)
                continue
            context = {**common, **sample}
            findings += _check_one(renderer, name, locale, context)
    findings += _check_labels(renderer)
    findings += _check_orphan_buttons(renderer)
    return findings


def _check_one(
    renderer: Renderer, name: str, locale: str, context: dict[str, Any]
) -> list[Finding]:
    try:
        text = renderer.text(locale, name, **context)  # type: ignore[arg-type]
        buttons = renderer.buttons(locale, name, **context)  # type: ignore[arg-type]
    except (TemplateError, ValueError, TypeError, KeyError) as exc:
        return [Finding(name, locale, f"does not render with its samples: {exc}")]
    return _check_text(name, locale, text) + _check_buttons(name, locale, buttons)


def _check_with_placeholders(env: Environment, name: str, locale: str) -> list[Finding]:
    note = Finding(name, locale, f"no samples in {SAMPLES_FILE}; checked with placeholders", False)
    try:
        text = env.get_template(f"{locale}/{name}.html").render().strip()
    except (TemplateError, ValueError, TypeError, KeyError, IndexError) as exc:
        return [Finding(name, locale, f"add samples to check it (placeholders fail: {exc})", False)]
    return [note, *_check_text(name, locale, text)]


def _check_text(name: str, locale: str, text: str) -> list[Finding]:
    try:
        plain, _ = parse_html(text)
    except HtmlError as exc:
        return [Finding(name, locale, f"Telegram would refuse it: can't parse entities: {exc}")]
    except ValueError as exc:  # a value the parser cannot read, e.g. a placeholder user id
        return [Finding(name, locale, f"could not check the markup: {exc}", False)]
    if not plain.strip():
        return [Finding(name, locale, "renders empty (Telegram refuses empty messages)")]
    length = utf16_len(plain)
    if length > MAX_TEXT:
        return [Finding(name, locale, f"{length} characters; Telegram takes {MAX_TEXT} at most")]
    return []


def _check_buttons(name: str, locale: str, rows: list[list[Button]]) -> list[Finding]:
    problems = []
    if sum(len(row) for row in rows) > MAX_BUTTONS:
        problems.append(f"more than {MAX_BUTTONS} buttons")
    for row in rows:
        if len(row) > MAX_BUTTONS_PER_ROW:
            problems.append(f"a row of {len(row)} buttons ({MAX_BUTTONS_PER_ROW} at most)")
        for button in row:
            if not button.text:
                problems.append("a button without a label")
            if button.callback_data is not None:
                size = len(button.callback_data.encode())
                if not 1 <= size <= MAX_CALLBACK_BYTES:
                    problems.append(
                        f"callback data {button.callback_data!r} is {size} bytes "
                        f"(1-{MAX_CALLBACK_BYTES})"
                    )
            if button.url is not None and not button.url.startswith(URL_SCHEMES):
                problems.append(f"button URL {button.url!r} is not http(s) or tg://")
    return [Finding(name, locale, problem) for problem in problems]


def _check_labels(renderer: Renderer) -> list[Finding]:
    keys = {locale: renderer.label_keys(locale) for locale in LOCALES}
    everywhere = set().union(*keys.values())
    return [
        Finding("labels.yaml", locale, f"no label {key!r}")
        for locale in LOCALES
        for key in sorted(everywhere - keys[locale])
    ]


def _check_orphan_buttons(renderer: Renderer) -> list[Finding]:
    findings = []
    for folder in renderer.search_path:
        for locale in LOCALES:
            for path in (folder / locale).glob(f"*{BUTTONS_SUFFIX}"):
                name = path.name.removesuffix(BUTTONS_SUFFIX)
                if not any((f / locale / f"{name}.html").exists() for f in renderer.search_path):
                    findings.append(Finding(path.name, locale, "buttons for no message"))
    return findings
