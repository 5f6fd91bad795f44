"""The documentation keeps up with the code: every setting and every command is described."""

import re
from pathlib import Path

from bot.cli import _parser
from bot.config import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text("utf-8")
ENV_EXAMPLE = (ROOT / ".env.example").read_text("utf-8")


def _setting_names() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


def test_env_example_lists_exactly_the_settings() -> None:
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", ENV_EXAMPLE, flags=re.MULTILINE))
    assert documented == _setting_names()


def test_env_example_defaults_are_the_real_defaults() -> None:
    for name, field in Settings.model_fields.items():
        match = re.search(rf"^{name.upper()}=(.*)$", ENV_EXAMPLE, flags=re.MULTILINE)
        assert match is not None
        written = match.group(1).strip()
        default = field.default
        if default is None:
            assert written == "", f"{name.upper()} has no default but .env.example sets one"
        else:
            assert written == str(default), f"{name.upper()}: {written!r} != {default!r}"


def test_readme_settings_table_names_every_setting() -> None:
    for name in _setting_names():
        assert f"| `{name}` |" in README, f"{name} is missing from the README's settings table"


def test_readme_documents_every_command() -> None:
    parser = _parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name, sub in commands.items():
        nested = [a for a in sub._actions if a.__class__.__name__ == "_SubParsersAction"]
        names = [f"{name} {child}" for child in nested[0].choices] if nested else [name]
        for full in names:
            assert f"`carebot {full}" in README, f"carebot {full} is not in the README"


def test_readme_keeps_the_run_and_test_commands_ci_reads() -> None:
    for marker in ("run", "install-dev", "test"):
        assert f"<!-- {marker} -->" in README
    assert "<!-- test -->\n    python3 -m venv .venv" in README
