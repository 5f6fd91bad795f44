"""The carebot command: one clear line and exit status 2 for every setup problem."""

import asyncio
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.sandbox import Sandbox, serve_http
from tests.harness import TOKEN


def carebot(
    *args: str, cwd: Path, timeout: float = 60, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run `python -m bot` in a clean environment (no .env, no CAREBOT_* from the caller)."""
    clean = {k: v for k, v in os.environ.items() if not _is_setting(k)}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _is_setting(name: str) -> bool:
    return name.startswith(("CAREBOT_", "TELEGRAM_", "WEBHOOK_")) or name in {
        "DATABASE_URL",
        "ADVISOR_CHAT_ID",
    }


def assert_one_line_exit_2(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for word in words:
        assert word in lines[0]


def test_run_without_a_token_says_so_and_exits_2(tmp_path: Path) -> None:
    result = carebot("run", cwd=tmp_path)
    assert_one_line_exit_2(result, "TELEGRAM_BOT_TOKEN", "missing")


def test_a_malformed_token_is_named(tmp_path: Path) -> None:
    result = carebot("run", cwd=tmp_path, TELEGRAM_BOT_TOKEN="not-a-token")
    assert_one_line_exit_2(result, "TELEGRAM_BOT_TOKEN", "does not look like a bot token")
    assert "not-a-token" not in result.stderr


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("mysql://root@localhost/carebot", "unsupported database"),
        ("not a url at all", "is not a database URL"),
        ("postgresql+asyncpg://nobody@127.0.0.1:1/carebot", "cannot connect"),
    ],
)
def test_a_bad_database_url_gives_one_line(tmp_path: Path, url: str, problem: str) -> None:
    result = carebot("run", cwd=tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, DATABASE_URL=url)
    assert_one_line_exit_2(result, "DATABASE_URL", problem)


def test_an_unreachable_bot_api_gives_one_line(tmp_path: Path) -> None:
    result = carebot(
        "run",
        cwd=tmp_path,
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL="http://127.0.0.1:9/bot",
    )
    assert_one_line_exit_2(result, "TELEGRAM_API_BASE_URL", "cannot reach the Bot API")
    assert TOKEN not in result.stderr


async def test_a_token_the_bot_api_rejects_gives_one_line(tmp_path: Path) -> None:
    sandbox = Sandbox(token="999:only-this-token-is-accepted-here")
    server = await serve_http(sandbox)
    try:
        result = await asyncio.to_thread(
            carebot,
            "run",
            cwd=tmp_path,
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_API_BASE_URL=server.base_url,
        )
    finally:
        await server.stop()
    assert_one_line_exit_2(result, "TELEGRAM_BOT_TOKEN", "rejected")


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("CAREBOT_TIMEZONE", "Mars/Olympus", "unknown time zone"),
        ("CAREBOT_DEFAULT_LOCALE", "fr", "unknown locale"),
        ("ADVISOR_CHAT_ID", "advisors", "integer"),
        ("WEBHOOK_URL", "https://bot.example.com/hook", "WEBHOOK_SECRET"),
        ("WEBHOOK_PORT", "99999", "65535"),
        ("CAREBOT_STORE_FILE", "missing.yaml", "no such file"),
    ],
)
def test_each_malformed_setting_is_named(
    tmp_path: Path, name: str, value: str, problem: str
) -> None:
    result = carebot("run", cwd=tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, **{name: value})
    assert_one_line_exit_2(result, problem)


def test_a_broken_store_file_names_the_key(tmp_path: Path) -> None:
    store = tmp_path / "store.yaml"
    example = (Path(__file__).resolve().parents[1] / "store.example.yaml").read_text("utf-8")
    store.write_text(example.replace('mon: "08:30-12:00,13:00-17:30"', 'mon: "8-17"'), "utf-8")
    result = carebot("run", cwd=tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, CAREBOT_STORE_FILE=str(store))
    assert_one_line_exit_2(result, "CAREBOT_STORE_FILE", "opening_hours.mon", "'8-17'")


def test_settings_are_read_from_dot_env(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DATABASE_URL=mysql://x/y\n", "utf-8")
    result = carebot("run", cwd=tmp_path, TELEGRAM_BOT_TOKEN=TOKEN)
    assert_one_line_exit_2(result, "DATABASE_URL", "unsupported database")


def test_db_upgrade_creates_the_schema_and_can_run_again(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'carebot.db'}"
    first = carebot("db", "upgrade", cwd=tmp_path, DATABASE_URL=url)
    second = carebot("db", "upgrade", cwd=tmp_path, DATABASE_URL=url)
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert "schema is up to date" in first.stderr
    assert "schema is up to date" in second.stderr
    tables = sqlite3.connect(tmp_path / "carebot.db").execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'"
    )
    assert {"customer", "vehicle", "appointment", "outbox"} <= {row[0] for row in tables}


def test_help_lists_the_commands(tmp_path: Path) -> None:
    result = carebot("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("run", "sandbox", "db"):
        assert command in result.stdout
