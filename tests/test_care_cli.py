"""`carebot care plan|send|status|campaign` and `carebot templates check`, end to end on SQLite."""

import asyncio
import datetime as dt
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from bot.db import make_engine, make_sessionmaker, transaction
from bot.paths import EXAMPLE_STORE_FILE
from bot.sandbox import Limits, Sandbox, SandboxServer, serve_http
from bot.store_config import load_store_config
from tests.care_world import add_customer, add_vehicle, add_visit, make_store

TOKEN = "5550004:care-cli-sandbox-token-for-tests-0123"


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)  # no stray .env
    assert main(["db", "upgrade"]) == 0
    return url


def owners(url: str, telegram_ids: list[int]) -> None:
    """Owners due for maintenance and with a birthday on 2026-03-10."""

    async def add() -> None:
        engine = make_engine(url)
        store_id = await make_store(make_sessionmaker(engine), load_store_config(None))
        async with transaction(make_sessionmaker(engine)) as session:
            for telegram_id in telegram_ids:
                owner = await add_customer(session, store_id, birthday=dt.date(1990, 3, 10))
                owner.telegram_user_id = telegram_id
                car = await add_vehicle(session, owner)
                await add_visit(session, car, dt.date(2025, 3, 10), 20_000)
        await engine.dispose()

    asyncio.run(add())


@pytest.fixture
def sandbox_server() -> Iterator[SandboxServer]:
    """The Bot API sandbox over HTTP, on its own event loop in a thread."""
    loop = asyncio.new_event_loop()
    sandbox = Sandbox(limits=Limits(), token=TOKEN)
    started = threading.Event()
    holder: list[SandboxServer] = []

    async def serve() -> None:
        holder.append(await serve_http(sandbox))
        started.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(serve(), loop)
    assert started.wait(5)
    yield holder[0]
    asyncio.run_coroutine_threadsafe(holder[0].stop(), loop).result(5)
    asyncio.run_coroutine_threadsafe(sandbox.aclose(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_plan_dry_run_then_plan_then_status(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    owners(database, [9_100_000_001, 9_100_000_002])
    dry = run_json(capsys, "care", "plan", "--as-of", "2026-03-10", "--dry-run", "--format", "json")
    assert dry["dry_run"] is True and dry["total"] == 4  # type: ignore[index]
    assert run_json(capsys, "care", "status", "--format", "json") == {}
    assert main(["care", "plan", "--as-of", "2026-03-10"]) == 0
    table = capsys.readouterr().out
    assert "maintenance" in table and "total" in table
    status = run_json(capsys, "care", "status", "--format", "json")
    assert status["maintenance"]["pending"] == 2  # type: ignore[index]
    assert status["birthday"]["pending"] == 2  # type: ignore[index]
    again = run_json(capsys, "care", "plan", "--as-of", "2026-03-10", "--format", "json")
    assert again["total"] == 0  # type: ignore[index]


def test_send_drains_the_outbox_through_the_bot_api(
    database: str,
    sandbox_server: SandboxServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # Maintenance reminders as service messages here, so they go at any hour of the test run
    # (birthdays stay marketing and wait outside 09:00-20:00 Taipei).
    store = yaml.safe_load(EXAMPLE_STORE_FILE.read_text(encoding="utf-8"))
    store["care"]["maintenance"]["marketing"] = False
    store_file = tmp_path / "store.yaml"
    store_file.write_text(yaml.safe_dump(store, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("CAREBOT_STORE_FILE", str(store_file))
    users = [sandbox_server.sandbox.add_user(f"Owner {n}") for n in range(2)]
    owners(database, [user.id for user in users])
    assert main(["care", "plan", "--as-of", "2026-03-10"]) == 0
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", sandbox_server.base_url)
    capsys.readouterr()
    assert main(["care", "send"]) == 0
    assert "sent" in capsys.readouterr().out
    received = [len(sandbox_server.sandbox.messages(u.id, from_bot=True)) for u in users]
    assert all(count >= 1 for count in received)
    status = run_json(capsys, "care", "status", "--format", "json")
    assert status["maintenance"]["sent"] == 2  # type: ignore[index]


def test_campaign_shows_count_and_preview_and_queues_with_yes(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    owners(database, [9_100_000_011, 9_100_000_012, 9_100_000_013])
    argv = [
        "care",
        "campaign",
        "--segment",
        "archived",
        "--template",
        "campaign_seasonal_check",
        "--locale",
        "en",
    ]
    assert main([*argv, "--yes"]) == 0
    out = capsys.readouterr().out
    assert "recipients (on Telegram, taking marketing): 3" in out
    assert "free 20-point check" in out and "3 messages queued" in out
    status = run_json(capsys, "care", "status", "--format", "json")
    assert status["campaign"]["pending"] == 3  # type: ignore[index]
    assert main([*argv[:4], "--template", "campaign_nonexistent", "--yes"]) == 2


def test_templates_check_passes_on_the_shipped_templates(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["templates", "check"]) == 0
    assert "0 errors" in capsys.readouterr().out
    broken = tmp_path / "mine"
    (broken / "en").mkdir(parents=True)
    (broken / "en" / "care_birthday.html").write_text("<b>Happy", "utf-8")
    monkeypatch.setenv("CAREBOT_TEMPLATE_DIR", str(broken))
    assert main(["templates", "check"]) == 1
    assert "en/care_birthday: Telegram would refuse it" in capsys.readouterr().out
