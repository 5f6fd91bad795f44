"""The Telegram sandbox over real HTTP: PTB's default transport, raw requests, webhooks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken
from telegram.request import HTTPXRequest
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

from bot.sandbox import Sandbox, SandboxServer, serve_http

TOKEN = "123456789:AAHsandboxTokenForTests_0123456789ab"
SPEC_PATH = Path(__file__).resolve().parents[2] / "shared/telegram-bot-api/api.json"
needs_spec = pytest.mark.skipif(
    not SPEC_PATH.exists(), reason=f"Bot API spec not found at {SPEC_PATH}"
)


@pytest.fixture(autouse=True)
def timedelta_durations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
async def sb() -> AsyncIterator[Sandbox]:
    sandbox = Sandbox(spec_path=SPEC_PATH if SPEC_PATH.exists() else None, limits=None)
    yield sandbox
    await sandbox.aclose()


@pytest.fixture
async def server(sb: Sandbox) -> AsyncIterator[SandboxServer]:
    running = await serve_http(sb, "127.0.0.1", 0)
    yield running
    await running.stop()


@pytest.fixture
async def bot(server: SandboxServer) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=server.base_url, base_file_url=server.base_file_url) as b:
        yield b


@pytest.fixture
async def client(server: SandboxServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url) as http:
        yield http


async def test_ptb_over_http_sends_uploads_and_downloads(sb: Sandbox, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == 123456789
    user = sb.add_user("Ann")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("OK", callback_data="ok")]])
    sent = await bot.send_message(user.id, "<i>Ready</i>", parse_mode="HTML",
                                  reply_markup=keyboard)
    assert sent.text == "Ready" and sent.reply_markup == keyboard
    document = await bot.send_document(user.id, b"report body", filename="report.txt")
    file = await bot.get_file(document.document.file_id)
    assert await file.download_as_bytearray() == bytearray(b"report body")
    with pytest.raises(BadRequest, match=r"(?i)unsupported start tag"):
        await bot.send_message(user.id, "<blink>no</blink>", parse_mode="HTML")
    sb.block_bot(user)
    with pytest.raises(Forbidden):
        await bot.send_message(user.id, "hi")
    assert [m.text for m in sb.messages(user.id, from_bot=True)] == ["Ready", None]


async def test_long_polling_over_http(sb: Sandbox, bot: Bot) -> None:
    user = sb.add_user("Ann")
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    sb.send_text(user, "/start")
    [update] = await asyncio.wait_for(poll, 3)
    assert update.message.text == "/start"
    assert await bot.get_updates(offset=update.update_id + 1, timeout=0) == ()


async def test_bad_token_and_unknown_method_raw(client: httpx.AsyncClient) -> None:
    response = await client.post("/botnot-a-token/getMe")
    assert response.status_code == 401
    assert response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    response = await client.post(f"/bot{TOKEN}/sendTelepathy")
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


async def test_bad_token_with_ptb() -> None:
    fixed = Sandbox(token=TOKEN)
    running = await serve_http(fixed)
    request = HTTPXRequest()
    other = Bot("42:AAHanotherWellFormedTokenValue_xyz", base_url=running.base_url,
                request=request)
    try:
        with pytest.raises(InvalidToken):
            await other.get_me()
    finally:
        await request.shutdown()
        await running.stop()
        await fixed.aclose()


async def test_json_form_and_query_parameters(sb: Sandbox, client: httpx.AsyncClient) -> None:
    user = sb.add_user("Ann")
    as_json = await client.post(f"/bot{TOKEN}/sendMessage",
                                json={"chat_id": user.id, "text": "json"})
    as_form = await client.post(f"/bot{TOKEN}/sendMessage",
                                data={"chat_id": str(user.id), "text": "form"})
    as_query = await client.get(f"/bot{TOKEN}/sendMessage",
                                params={"chat_id": str(user.id), "text": "query"})
    assert [r.status_code for r in (as_json, as_form, as_query)] == [200, 200, 200]
    assert [m.text for m in sb.messages(user.id)] == ["json", "form", "query"]


@needs_spec
async def test_spec_violations_are_answered_and_recorded(
    sb: Sandbox, client: httpx.AsyncClient
) -> None:
    user = sb.add_user("Ann")
    missing = await client.post(f"/bot{TOKEN}/sendMessage", json={"text": "no chat"})
    assert missing.status_code == 400 and missing.json()["ok"] is False
    assert any('"chat_id" is required' in v for v in sb.violations)

    wrong_type = await client.post(f"/bot{TOKEN}/sendMessage", data={
        "chat_id": str(user.id), "text": "x", "message_thread_id": "abc",
    })
    assert wrong_type.status_code == 400
    assert any("message_thread_id must be of type Integer" in v for v in sb.violations)

    nested = await client.post(f"/bot{TOKEN}/sendMessage", data={
        "chat_id": str(user.id), "text": "x",
        "reply_markup": json.dumps({"inline_keyboard": [[{"callback_data": "a"}]]}),
    })
    assert nested.status_code == 400
    assert any('field "text" of InlineKeyboardButton is required' in v for v in sb.violations)

    long_data = await client.post(f"/bot{TOKEN}/sendMessage", json={
        "chat_id": user.id, "text": "x",
        "reply_markup": {"inline_keyboard": [[{"text": "a", "callback_data": "é" * 33}]]},
    })
    assert long_data.json()["description"] == "Bad Request: BUTTON_DATA_INVALID"
    assert any("must be 1-64 bytes, got 66" in v for v in sb.violations)

    sb.violations.clear()
    unknown = await client.post(f"/bot{TOKEN}/sendMessage", json={
        "chat_id": user.id, "text": "accepted", "colour": "red",
    })
    assert unknown.status_code == 200  # Telegram ignores unknown parameters...
    assert sb.violations == ['sendMessage: unknown parameter "colour"']  # ...the sandbox flags them


async def test_control_api(sb: Sandbox, client: httpx.AsyncClient, bot: Bot) -> None:
    created = await client.post("/sandbox/users", json={"first_name": "Ann",
                                                         "language_code": "de"})
    assert created.status_code == 201
    user_id = created.json()["id"]
    sent = await client.post(f"/sandbox/users/{user_id}/send", json={"text": "/start"})
    assert sent.json()["update"]["message"]["text"] == "/start"
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="yes")]])
    reply = await bot.send_message(user_id, "<b>Sure?</b>", parse_mode="HTML",
                                   reply_markup=keyboard)
    pressed = await client.post(f"/sandbox/users/{user_id}/callback",
                                json={"message_id": reply.message_id, "data": "yes"})
    assert pressed.json()["update"]["callback_query"]["data"] == "yes"
    refused = await client.post(f"/sandbox/users/{user_id}/callback",
                                json={"message_id": reply.message_id, "data": "no"})
    assert refused.status_code == 400
    messages = (await client.get(f"/sandbox/chats/{user_id}/messages")).json()
    assert [m["text"] for m in messages] == ["/start", "Sure?"]
    assert messages[1]["html"] == "<b>Sure?</b>"
    state = (await client.get("/sandbox/state")).json()
    assert state["bots"][0]["pending_updates"] == 2
    missing = await client.post("/sandbox/users/1/send", json={"text": "x"})
    assert missing.status_code == 404


async def test_webhook_delivery_with_secret_and_retry(sb: Sandbox, bot: Bot) -> None:
    received: list[tuple[str | None, dict[str, object]]] = []
    failures = [1]

    class Receiver(RequestHandler):
        def post(self) -> None:
            if failures[0]:
                failures[0] -= 1
                self.set_status(500)
                return
            received.append((self.request.headers.get("X-Telegram-Bot-Api-Secret-Token"),
                             json.loads(self.request.body)))

    sockets = bind_sockets(0, "127.0.0.1")
    receiver = HTTPServer(Application([(r"/hook", Receiver)]))
    receiver.add_sockets(sockets)
    url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}/hook"
    sb.webhook_retry_delays = (0.05,)
    try:
        assert await bot.set_webhook(url, secret_token="s3cret")
        with pytest.raises(Conflict, match="webhook is active"):
            await bot.get_updates()
        user = sb.add_user("Ann")
        sb.send_text(user, "via webhook")
        await sb.wait_for(lambda: received)
        secret, update = received[0]
        assert secret == "s3cret"
        assert update["message"]["text"] == "via webhook"  # type: ignore[index]
        info = await bot.get_webhook_info()
        assert info.url == url and info.pending_update_count == 0
        assert "500" in (info.last_error_message or "")
        assert await bot.delete_webhook()
        sb.send_text(user, "queued for polling")
        [polled] = await bot.get_updates(timeout=0)
        assert polled.message.text == "queued for polling"
    finally:
        receiver.stop()
        await receiver.close_all_connections()


async def test_server_errors_and_dropped_connections(sb: Sandbox, bot: Bot) -> None:
    from telegram.error import NetworkError

    from bot.sandbox import Faults

    user = sb.add_user("Ann")
    sb.faults = Faults(server_errors=1.0, methods=frozenset({"sendmessage"}))
    with pytest.raises(NetworkError):
        await bot.send_message(user.id, "lost")
    sb.faults = Faults(dropped=1.0, methods=frozenset({"sendmessage"}))
    with pytest.raises(NetworkError):
        await bot.send_message(user.id, "processed, answer lost")
    assert [m.text for m in sb.messages(user.id)] == ["processed, answer lost"]
