"""In-process transport: a PTB request class that hands calls straight to a Sandbox."""

from __future__ import annotations

import asyncio
import json
import re
from urllib.parse import unquote, urlsplit

from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from bot.sandbox.spec import Upload
from bot.sandbox.world import Sandbox

_METHOD_PATH = re.compile(r"/bot([^/]+)/([^/]+)$")
_FILE_PATH = re.compile(r"/file/bot([^/]+)/(.+)$")


def uploads_of(request_data: RequestData) -> dict[str, Upload]:
    """Turn PTB's multipart parts into the uploads the sandbox receives over HTTP."""
    uploads: dict[str, Upload] = {}
    for name, (filename, content, mime_type) in request_data.multipart_data.items():
        data = content if isinstance(content, bytes) else content.read()
        uploads[name] = Upload(name, filename, data, mime_type)
    return uploads


class SandboxRequest(BaseRequest):
    """Dispatches PTB's requests to a Sandbox in-process, answering exactly as over HTTP."""

    __slots__ = ("_read_timeout", "sandbox")

    def __init__(self, sandbox: Sandbox, read_timeout: float | None = 5.0) -> None:
        self.sandbox = sandbox
        self._read_timeout = read_timeout

    @property
    def read_timeout(self) -> float | None:
        """Default read timeout, used when a held request should time out."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Nothing to set up in-process."""

    async def shutdown(self) -> None:
        """Nothing to release in-process."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Serve one request; values travel JSON-encoded as PTB would put them on the wire."""
        path = unquote(urlsplit(url).path)
        if match := _FILE_PATH.search(path):
            return self.sandbox.download(match.group(1), match.group(2))
        match = _METHOD_PATH.search(path)
        if match is None:
            return 404, json.dumps(
                {"ok": False, "error_code": 404, "description": "Not Found"}
            ).encode()
        timeout = self._read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout
        values: dict[str, object] = dict(request_data.json_parameters) if request_data else {}
        files = uploads_of(request_data) if request_data and request_data.contains_files else {}
        answer = await self.sandbox.call(
            match.group(1), match.group(2), values, files, read_timeout=timeout
        )
        if answer.action == "hold":
            hold = self.sandbox.faults.hold_seconds
            await asyncio.sleep(min(hold, timeout) if timeout is not None else hold)
            raise TimedOut
        if answer.action == "drop":
            raise NetworkError(
                "httpx.RemoteProtocolError: Server disconnected without sending a response."
            )
        return answer.status, answer.payload()
