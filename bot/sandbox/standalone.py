"""Running the sandbox as its own process, for manual testing and multi-process setups."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from bot.sandbox.records import AdminRights
from bot.sandbox.server import serve_http
from bot.sandbox.world import Sandbox

logger = logging.getLogger(__name__)


async def run_standalone(host: str, port: int, spec_path: Path | None, token: str | None) -> None:
    """Serve a sandbox with an "Advisors" forum and a sample user until cancelled."""
    sandbox = Sandbox(spec_path=spec_path, token=token)
    forum_id = sandbox.add_forum("Advisors", bot_rights=AdminRights(can_manage_topics=True))
    user = sandbox.add_user(
        "Alex", language_code="en", username="alex_sample", phone_number="+15550100001"
    )
    server = await serve_http(sandbox, host, port)
    logger.info("Telegram sandbox listening on %s", server.url)
    logger.info("Point the bot at base_url=%s (files: %s)", server.base_url, server.base_file_url)
    if token is None:
        logger.info("Any well-formed token is accepted; each becomes its own bot")
    logger.info('Forum "Advisors": chat id %s; sample user "Alex": id %s', forum_id, user.id)
    logger.info(
        "Drive it: curl -X POST %s/sandbox/users/%s/send -H 'Content-Type: application/json' "
        '-d \'{"text": "/start"}\'',
        server.url,
        user.id,
    )
    logger.info(
        "Inspect: curl %s/sandbox/state ; curl %s/sandbox/chats/%s/messages",
        server.url,
        server.url,
        user.id,
    )
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()
        await sandbox.aclose()
