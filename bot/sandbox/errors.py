"""Bot API error answers raised by sandbox method implementations."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answer as Telegram sends it: HTTP status, description and optional parameters."""

    def __init__(
        self, code: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def body(self) -> dict[str, Any]:
        """Return the JSON body Telegram would answer with."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


class Violation(ApiError):
    """A request that breaks the documented contract; recorded in ``Sandbox.violations``."""


def bad_request(reason: str) -> ApiError:
    """Build a 400 answer with Telegram's ``Bad Request:`` prefix."""
    return ApiError(400, f"Bad Request: {reason}")


def violation(reason: str) -> Violation:
    """Build a 400 answer for a contract breach, which the sandbox also records."""
    return Violation(400, f"Bad Request: {reason}")


def forbidden(reason: str) -> ApiError:
    """Build a 403 answer with Telegram's ``Forbidden:`` prefix."""
    return ApiError(403, f"Forbidden: {reason}")


NOT_FOUND = ApiError(404, "Not Found")
UNAUTHORIZED = ApiError(401, "Unauthorized")
