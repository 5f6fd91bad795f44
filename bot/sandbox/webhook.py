"""Webhook delivery: POST each update to the bot's URL in order, retrying until it is accepted."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import httpx

from bot.sandbox.records import BotAccount

if TYPE_CHECKING:
    from bot.sandbox.world import Sandbox

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


async def deliver_forever(sandbox: Sandbox, bot: BotAccount) -> None:
    """Deliver a bot's pending updates one at a time until its webhook is removed."""
    webhook = bot.webhook
    failures = 0
    while webhook is not None and bot.webhook is webhook:
        if not bot.updates:
            await sandbox.changed(None)
            continue
        update = bot.updates[0]
        headers = {"Content-Type": "application/json"}
        if webhook.secret_token:
            headers[SECRET_HEADER] = webhook.secret_token
        error: str | None = None
        try:
            response = await sandbox.webhook_client().post(
                webhook.url, json=update, headers=headers, timeout=10.0
            )
            if not 200 <= response.status_code <= 299:
                error = (
                    f"Wrong response from the webhook: {response.status_code} "
                    f"{response.reason_phrase}"
                )
        except httpx.HTTPError as exc:
            # Telegram reports network failures in similar words in getWebhookInfo.
            error = f"Connection failed: {exc.__class__.__name__}"
        if bot.webhook is not webhook:
            return
        if error is None:
            if bot.updates and bot.updates[0] is update:
                bot.updates.pop(0)
            webhook.delivered += 1
            failures = 0
            sandbox.notify()
            continue
        webhook.last_error_date = sandbox.now()
        webhook.last_error_message = error
        delays = sandbox.webhook_retry_delays or (1.0,)
        delay = delays[min(failures, len(delays) - 1)]
        failures += 1
        logger.info(
            "Webhook delivery to %s failed (%s); retrying in %.1f s", webhook.url, error, delay
        )
        sandbox.notify()
        await asyncio.sleep(delay)
