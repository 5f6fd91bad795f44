"""Shared fixtures: a migrated database on every engine, and the store file."""

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bot.config import Settings, load_settings
from bot.db import make_engine, make_sessionmaker, upgrade_schema
from bot.sandbox import Sandbox
from bot.store_config import StoreConfig, load_store_config
from tests.harness import BOT_USERNAME, TOKEN, Harness

ROOT = Path(__file__).resolve().parents[1]
API_SPEC = ROOT.parent / "shared" / "telegram-bot-api" / "api.json"
POSTGRES_URL = os.environ.get("CAREBOT_TEST_POSTGRES_URL")
NO_POSTGRES = "CAREBOT_TEST_POSTGRES_URL is not set, so the PostgreSQL case is skipped (CI sets it)"
BACKENDS = ["sqlite", "postgresql"]


_PASSED = dict.fromkeys(BACKENDS, 0)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # Counted so that CI can insist that the PostgreSQL cases really ran.
    if report.when == "call" and report.passed:
        for name, value in report.user_properties:
            if name == "backend":
                _PASSED[value] += 1


def pytest_sessionfinish(session: pytest.Session) -> None:
    target = os.environ.get("CAREBOT_TEST_BACKEND_REPORT")
    if target:
        Path(target).write_text("".join(f"{k} {v}\n" for k, v in _PASSED.items()))


@pytest.fixture(scope="session")
def api_spec() -> Path | None:
    """The Bot API spec, when this checkout sits beside ../shared (it does in CI)."""
    return API_SPEC if API_SPEC.exists() else None


@pytest.fixture(scope="session")
def store_config() -> StoreConfig:
    return load_store_config(None)


# --- databases -------------------------------------------------------------------------------
# Each test gets its own database, copied from a template migrated once per session: the
# migrations are exercised on both engines, and tests that race connections see real locking.


def _run_apart(make_coroutine: Callable[[], Coroutine[Any, Any, None]]) -> None:
    # Session fixtures may be first requested from inside a test's running event loop.
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, make_coroutine()).result()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "carebot.db"

    async def migrate() -> None:
        engine = make_engine(f"sqlite+aiosqlite:///{path}")
        await upgrade_schema(engine)
        await engine.dispose()

    _run_apart(migrate)
    return path


def _admin_engine() -> AsyncEngine:
    assert POSTGRES_URL is not None
    return create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    if POSTGRES_URL is None:
        pytest.skip(NO_POSTGRES)
    name = f"carebot_template_{uuid.uuid4().hex[:10]}"

    async def create() -> None:
        admin = _admin_engine()
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        await admin.dispose()
        engine = make_engine(_postgres_url(name))
        await upgrade_schema(engine)
        await engine.dispose()

    async def drop() -> None:
        admin = _admin_engine()
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()

    _run_apart(create)
    yield name
    _run_apart(drop)


def _postgres_url(database: str) -> str:
    assert POSTGRES_URL is not None
    url = make_url(POSTGRES_URL).set(drivername="postgresql+asyncpg", database=database)
    return url.render_as_string(hide_password=False)


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A freshly migrated, empty database of each kind; PostgreSQL only when configured."""
    request.node.user_properties.append(("backend", request.param))
    if request.param == "sqlite":
        path = tmp_path / "carebot.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    template = request.getfixturevalue("postgres_template")
    name = f"carebot_test_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine()
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    try:
        yield _postgres_url(name)
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_sessionmaker(engine)


# --- the bot against the sandbox -------------------------------------------------------------


@pytest.fixture
def sandbox(api_spec: Path | None) -> Sandbox:
    """A sandbox with the bot account; rate limits off (they have tests of their own)."""
    sandbox = Sandbox(spec_path=api_spec, limits=None)
    sandbox.add_bot(TOKEN, username=BOT_USERNAME)
    return sandbox


def harness_settings(database_url: str, advisor_chat_id: int, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "telegram_bot_token": TOKEN,
        "database_url": database_url,
        "advisor_chat_id": advisor_chat_id,
        "carebot_timezone": "Asia/Taipei",
        "carebot_default_locale": "zh-Hant",
        "_env_file": None,
    }
    return load_settings(**(values | overrides))


@pytest.fixture
async def harness(
    database_url: str, sandbox: Sandbox, store_config: StoreConfig
) -> AsyncIterator[Harness]:
    """The whole application on a fresh database, an advisors' forum, and no requests off-spec."""
    advisor = sandbox.add_user("Chen", language_code="zh-hant", username="advisor_chen")
    advisor_chat_id = sandbox.add_forum("Service advisors", members=[advisor])
    harness = Harness(
        sandbox=sandbox,
        settings=harness_settings(database_url, advisor_chat_id),
        store=store_config,
        advisor_chat_id=advisor_chat_id,
        advisor=advisor,
    )
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()
        await sandbox.aclose()
    assert sandbox.violations == [], "the bot made requests that break the Bot API spec"
