"""`carebot run` as a real process against the sandbox over HTTP, polling and webhook."""

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from bot.sandbox import AdminRights, Sandbox, SandboxServer, serve_http
from tests.harness import TOKEN
from tests.test_cli import _is_setting

pytestmark = pytest.mark.slow


class RunningBot:
    """A `carebot run` child process whose output is collected as it goes."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.output: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            self.output.append(line.decode("utf-8", "replace"))

    @property
    def text(self) -> str:
        return "".join(self.output)

    async def wait_for_output(self, needle: str, timeout: float = 30) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while needle not in self.text:
                if self.process.returncode is not None:
                    raise AssertionError(f"carebot exited early:\n{self.text}")
                await asyncio.sleep(0.05)

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:  # noqa: ASYNC109
        if self.process.returncode is None:
            self.process.send_signal(sig)
        code = await asyncio.wait_for(self.process.wait(), timeout)
        await self._reader
        return code


@asynccontextmanager
async def carebot_run(
    tmp_path: Path, server: SandboxServer, **env: str
) -> AsyncIterator[RunningBot]:
    clean = {k: v for k, v in os.environ.items() if not _is_setting(k)}
    settings = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": server.base_url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'carebot.db'}",
        "CAREBOT_LOG_LEVEL": "INFO",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        cwd=tmp_path,
        env=clean | settings | env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    running = RunningBot(process)
    try:
        yield running
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.fixture
async def http_sandbox(api_spec: Path | None) -> AsyncIterator[tuple[Sandbox, SandboxServer]]:
    sandbox = Sandbox(spec_path=api_spec)
    server = await serve_http(sandbox)
    try:
        yield sandbox, server
    finally:
        await server.stop()
        await sandbox.aclose()
    assert sandbox.violations == []


async def test_carebot_run_answers_start_from_a_sandbox_user(
    tmp_path: Path, http_sandbox: tuple[Sandbox, SandboxServer]
) -> None:
    sandbox, server = http_sandbox
    advisors = sandbox.add_forum("Service advisors")
    async with carebot_run(tmp_path, server, ADVISOR_CHAT_ID=str(advisors)) as bot:
        await bot.wait_for_output("polling")
        owner = sandbox.add_user("Mei", language_code="en")
        sandbox.send_text(owner, "/start")
        greeting = await sandbox.wait_for(lambda: sandbox.last_message(owner.id), timeout=30)
        assert "Welcome to Kaicheng Motors Neihu Service Center" in greeting.text
        code = await bot.stop(signal.SIGTERM)
    assert code == 0, bot.text
    assert "stopped" in bot.text
    assert "Traceback" not in bot.text
    assert TOKEN not in bot.text
    assert "is not an administrator" not in bot.text


async def test_sigint_mid_conversation_loses_no_update(
    tmp_path: Path, http_sandbox: tuple[Sandbox, SandboxServer]
) -> None:
    sandbox, server = http_sandbox
    advisors = sandbox.add_forum("Service advisors")
    owners = [sandbox.add_user(f"Owner {n}", language_code="en") for n in range(5)]
    async with carebot_run(tmp_path, server, ADVISOR_CHAT_ID=str(advisors)) as bot:
        await bot.wait_for_output("polling")
        for owner in owners:
            sandbox.send_text(owner, "/start")
        await bot.stop(signal.SIGINT)
    # Whatever the first process did not confirm, the next one gets: every owner is answered.
    async with carebot_run(tmp_path, server, ADVISOR_CHAT_ID=str(advisors)) as bot:
        await bot.wait_for_output("polling")
        await sandbox.wait_for(
            lambda: all(sandbox.last_message(owner.id) for owner in owners), timeout=30
        )
        assert await bot.stop() == 0


async def test_the_start_says_what_is_missing_in_the_advisor_chat(
    tmp_path: Path, http_sandbox: tuple[Sandbox, SandboxServer]
) -> None:
    sandbox, server = http_sandbox
    not_admin = sandbox.add_forum("Advisors", bot_rights=None)
    no_topics = sandbox.add_forum("Advisors 2", bot_rights=AdminRights(can_manage_topics=False))
    async with carebot_run(tmp_path, server, ADVISOR_CHAT_ID=str(not_admin)) as bot:
        await bot.wait_for_output("polling")
        assert await bot.stop() == 0
    assert "the bot is not an administrator of 'Advisors'" in bot.text
    async with carebot_run(tmp_path, server, ADVISOR_CHAT_ID=str(no_topics)) as bot:
        await bot.wait_for_output("polling")
        assert await bot.stop() == 0
    assert "may not manage topics in 'Advisors 2'" in bot.text
    async with carebot_run(tmp_path, server) as bot:
        await bot.wait_for_output("polling")
        assert await bot.stop() == 0
    assert "ADVISOR_CHAT_ID is not set" in bot.text


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_webhook_mode_serves_updates_and_checks_the_secret(
    tmp_path: Path, http_sandbox: tuple[Sandbox, SandboxServer]
) -> None:
    sandbox, server = http_sandbox
    advisors = sandbox.add_forum("Service advisors")
    port = free_port()
    hook = f"http://127.0.0.1:{port}/carebot/hook"
    async with carebot_run(
        tmp_path,
        server,
        ADVISOR_CHAT_ID=str(advisors),
        WEBHOOK_URL=hook,
        WEBHOOK_SECRET="s3cret-Token_1",
        WEBHOOK_LISTEN="127.0.0.1",
        WEBHOOK_PORT=str(port),
    ) as bot:
        await bot.wait_for_output("serving webhook")
        await sandbox.wait_for(lambda: sandbox.calls("setWebhook"), timeout=30)
        owner = sandbox.add_user("Mei", language_code="en")
        sandbox.send_text(owner, "/start")
        greeting = await sandbox.wait_for(lambda: sandbox.last_message(owner.id), timeout=30)
        assert "Welcome" in greeting.text
        async with httpx.AsyncClient() as client:
            forged = await client.post(
                hook,
                json={"update_id": 1, "message": {}},
                headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"},
            )
        assert forged.status_code == 403
        assert await bot.stop() == 0
    assert sandbox.calls("setWebhook")[0].params["secret_token"] == "s3cret-Token_1"
