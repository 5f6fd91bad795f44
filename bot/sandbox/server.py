"""HTTP transport: the Bot API, file downloads and a small control API, served by tornado."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

from bot.sandbox.records import JSON, StoredMessage, User
from bot.sandbox.spec import Upload
from bot.sandbox.world import Sandbox

logger = logging.getLogger(__name__)


class _SandboxHandler(RequestHandler):
    """Base handler holding the sandbox."""

    sandbox: Sandbox

    def initialize(self, sandbox: Sandbox) -> None:  # tornado's per-request hook
        self.sandbox = sandbox

    def send_json(self, status: int, body: Any) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body, ensure_ascii=False))

    def json_body(self) -> JSON:
        if not self.request.body:
            return {}
        data = json.loads(self.request.body)
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        return data


class BotApiHandler(_SandboxHandler):
    """/bot<token>/<method>, answering like api.telegram.org."""

    async def get(self, token: str, method: str) -> None:
        await self.serve(token, method)

    async def post(self, token: str, method: str) -> None:
        await self.serve(token, method)

    def parameters(self) -> tuple[dict[str, Any], dict[str, Upload]]:
        """Merge query, JSON, form and multipart parameters as Telegram does."""
        values: dict[str, Any] = {
            name: parts[-1].decode("utf-8") for name, parts in self.request.query_arguments.items()
        }
        content_type = self.request.headers.get("Content-Type", "")
        if content_type.startswith("application/json") and self.request.body:
            try:
                decoded = json.loads(self.request.body)
            except ValueError:
                decoded = None
            if isinstance(decoded, dict):
                values.update(decoded)
        else:
            for name, parts in self.request.body_arguments.items():
                values[name] = parts[-1].decode("utf-8")
        files = {
            name: Upload(name, parts[-1].filename, parts[-1].body, parts[-1].content_type)
            for name, parts in self.request.files.items()
        }
        return values, files

    async def serve(self, token: str, method: str) -> None:
        values, files = self.parameters()
        answer = await self.sandbox.call(token, method, values, files)
        if answer.action == "hold":
            await asyncio.sleep(self.sandbox.faults.hold_seconds)
            self.drop_connection()
            return
        if answer.action == "drop":
            self.drop_connection()
            return
        self.set_status(answer.status)
        self.set_header("Content-Type", "application/json")
        self.finish(answer.payload())

    def drop_connection(self) -> None:
        """Close the socket without an answer, as a failing network or proxy would."""
        connection = self.request.connection
        if connection is not None and hasattr(connection, "close"):
            connection.close()
        self._finished = True  # there is no answer left to send


class FileHandler(_SandboxHandler):
    """/file/bot<token>/<file_path> downloads."""

    async def get(self, token: str, path: str) -> None:
        status, content = self.sandbox.download(token, path)
        self.set_status(status)
        self.finish(content)


class _ControlHandler(_SandboxHandler):
    def user(self, user_id: str) -> User:
        user = self.sandbox.users.get(int(user_id))
        if user is None:
            raise LookupError(f"no user {user_id}")
        return user

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None))[1]
        self.send_json(status_code, {"error": str(error) if error else self._reason})

    def fail(self, error: Exception) -> None:
        self.send_json(404 if isinstance(error, LookupError) else 400, {"error": str(error)})

    def delivered(self, message: StoredMessage | None, update: JSON | None) -> None:
        self.send_json(
            200,
            {
                "message": self.sandbox.render(message) if message else None,
                "update": update,
            },
        )


class UsersHandler(_ControlHandler):
    """POST /sandbox/users creates a user."""

    def post(self) -> None:
        try:
            data = self.json_body()
            user = self.sandbox.add_user(
                data["first_name"],
                data.get("language_code", "en"),
                data.get("username"),
                data.get("last_name"),
                data.get("phone_number"),
            )
        except (KeyError, ValueError) as error:
            self.fail(error)
            return
        self.send_json(201, user.to_api())


class UserActionHandler(_ControlHandler):
    """POST /sandbox/users/<id>/<action>: send, contact, callback, block, unblock."""

    def post(self, user_id: str, action: str) -> None:
        try:
            user = self.user(user_id)
            data = self.json_body()
            sandbox = self.sandbox
            if action == "send":
                done = sandbox.send_text(
                    user,
                    data["text"],
                    chat_id=data.get("chat_id"),
                    thread_id=data.get("thread_id"),
                    reply_to=data.get("reply_to"),
                )
            elif action == "contact":
                done = sandbox.send_contact(
                    user, data.get("phone_number"), chat_id=data.get("chat_id")
                )
            elif action == "callback":
                chat_id = int(data.get("chat_id", user.id))
                message = sandbox.message(chat_id, int(data["message_id"]))
                done = sandbox.press_button(
                    user, message, data["data"], forge=bool(data.get("forge"))
                )
            elif action in {"block", "unblock"}:
                update = (sandbox.block_bot if action == "block" else sandbox.unblock_bot)(user)
                self.delivered(None, update)
                return
            else:
                raise LookupError(f"unknown action {action!r}")
        except (KeyError, ValueError, LookupError) as error:
            self.fail(error)
            return
        self.delivered(done.message, done.update)


class ChatMessagesHandler(_ControlHandler):
    """GET /sandbox/chats/<chat_id>/messages lists a chat's messages."""

    def get(self, chat_id: str) -> None:
        messages = self.sandbox.messages(int(chat_id))
        self.send_json(
            200,
            [{**self.sandbox.render(m), "html": m.html, "from_bot": m.from_bot} for m in messages],
        )


class StateHandler(_ControlHandler):
    """GET /sandbox/state summarises the sandbox."""

    def get(self) -> None:
        self.send_json(200, self.sandbox.summary())


@dataclass
class SandboxServer:
    """A running HTTP sandbox; point PTB's base_url at ``base_url``."""

    sandbox: Sandbox
    host: str
    port: int
    server: HTTPServer

    @property
    def url(self) -> str:
        """Root URL of the server."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """Value for PTB's ``base_url``."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """Value for PTB's ``base_file_url``."""
        return f"{self.url}/file/bot"

    async def stop(self) -> None:
        """Stop listening and close open connections."""
        self.server.stop()
        await self.server.close_all_connections()


def make_app(sandbox: Sandbox) -> Application:
    """The tornado application serving a sandbox."""
    args = {"sandbox": sandbox}
    return Application(
        [
            (r"/bot([^/]+)/([^/]+)", BotApiHandler, args),
            (r"/file/bot([^/]+)/(.+)", FileHandler, args),
            (r"/sandbox/users", UsersHandler, args),
            (r"/sandbox/users/(-?\d+)/(\w+)", UserActionHandler, args),
            (r"/sandbox/chats/(-?\d+)/messages", ChatMessagesHandler, args),
            (r"/sandbox/state", StateHandler, args),
        ],
        log_function=_log_request,
    )


def _log_request(handler: RequestHandler) -> None:
    logger.debug("%s %s -> %s", handler.request.method, handler.request.path, handler.get_status())


async def serve_http(sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0) -> SandboxServer:
    """Serve a sandbox over HTTP on ``host:port`` (port 0 picks a free one)."""
    sockets = bind_sockets(port, host)
    server = HTTPServer(make_app(sandbox), max_body_size=60 * 1024 * 1024)
    server.add_sockets(sockets)
    actual_port = sockets[0].getsockname()[1]
    return SandboxServer(sandbox, host, actual_port, server)
