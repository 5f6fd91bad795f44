"""Settings from the environment and .env; mirrors .env.example field for field."""

import re
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.errors import SetupError
from bot.locales import Locale, parse_locale

TELEGRAM_PUBLIC_API = "https://api.telegram.org/bot"
_TOKEN = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{20,}$")
_WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")

# Users write the plain dialect names; the application needs the async drivers.
_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


class Settings(BaseSettings):
    """Everything that is a single value; the store file holds the rest."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    telegram_bot_token: SecretStr | None = None
    telegram_api_base_url: str = TELEGRAM_PUBLIC_API
    database_url: str = "sqlite+aiosqlite:///carebot.db"
    advisor_chat_id: int | None = None
    carebot_timezone: str = "Asia/Taipei"
    carebot_default_locale: Locale = "zh-Hant"
    carebot_store_file: Path | None = None
    carebot_template_dir: Path | None = None
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = Field(default=8443, ge=1, le=65535)
    carebot_log_level: str = "INFO"
    # Every advisor group when ADVISOR_CHAT_ID lists several; advisor_chat_id is the first.
    _advisor_chat_ids: tuple[int, ...] = PrivateAttr(default=())

    @model_validator(mode="wrap")
    @classmethod
    def _several_advisor_chats(
        cls, data: object, handler: ModelWrapValidatorHandler["Settings"]
    ) -> "Settings":
        # ADVISOR_CHAT_ID may list several groups (-100111,-100222); the field keeps the first,
        # so code that knows one advisor group keeps working.
        ids: tuple[int, ...] = ()
        if isinstance(data, dict):
            ids = _chat_ids(data.get("advisor_chat_id"))
            if ids:
                data = {**data, "advisor_chat_id": ids[0]}
        settings = handler(data)
        settings._advisor_chat_ids = ids
        return settings

    @field_validator("telegram_bot_token", "webhook_secret", "webhook_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("advisor_chat_id", "carebot_store_file", "carebot_template_dir", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("telegram_bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _TOKEN.match(value.get_secret_value()):
            raise ValueError(
                "does not look like a bot token (expected 123456789:ABC..., from @BotFather)"
            )
        return value

    @field_validator("telegram_api_base_url", "webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value

    @field_validator("database_url")
    @classmethod
    def _async_database_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError(f"{value!r} is not a database URL") from None
        driver = _ASYNC_DRIVERS.get(url.drivername)
        if driver is None:
            raise ValueError(
                f"unsupported database {url.drivername!r}; use sqlite+aiosqlite:///FILE "
                "or postgresql+asyncpg://USER@HOST/DB"
            )
        return url.set(drivername=driver).render_as_string(hide_password=False)

    @field_validator("carebot_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (e.g. Asia/Taipei, Asia/Shanghai)"
            ) from None
        return value

    @field_validator("carebot_default_locale", mode="before")
    @classmethod
    def _locale(cls, value: object) -> object:
        return parse_locale(value) if isinstance(value, str) else value

    @field_validator("webhook_secret")
    @classmethod
    def _secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _WEBHOOK_SECRET.match(value.get_secret_value()):
            raise ValueError("use 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("carebot_log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("use DEBUG, INFO, WARNING or ERROR")
        return value.upper()

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> "Settings":
        if self.webhook_url and self.webhook_secret is None:
            raise ValueError("WEBHOOK_SECRET: required when WEBHOOK_URL is set")
        return self

    @property
    def advisor_chat_ids(self) -> tuple[int, ...]:
        """Every configured advisor group, in the order ADVISOR_CHAT_ID lists them."""
        return self._advisor_chat_ids

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.carebot_timezone)

    @property
    def token(self) -> str:
        """The bot token; a clear setup error when it is missing."""
        if self.telegram_bot_token is None:
            raise SetupError(
                "TELEGRAM_BOT_TOKEN",
                "missing; create a bot with @BotFather and put its token in .env",
            )
        return self.telegram_bot_token.get_secret_value()

    @property
    def uses_webhook(self) -> bool:
        return self.webhook_url is not None


def _chat_ids(value: object) -> tuple[int, ...]:
    """Chat ids from one id or a comma-separated list; () when unset."""
    if value is None or isinstance(value, bool):
        return ()
    if isinstance(value, int):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(int(part) for part in value)
    parts = [part.strip() for part in str(value).split(",") if part.strip()]
    try:
        ids = tuple(int(part) for part in parts)
    except ValueError:
        raise ValueError(
            f"ADVISOR_CHAT_ID: {value!r} is not an integer chat id "
            "(or a comma-separated list of them)"
        ) from None
    if len(set(ids)) != len(ids):
        raise ValueError("ADVISOR_CHAT_ID: a group is listed twice")
    return ids


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning the first validation problem into a one-line SetupError."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or ""
        message = str(error["msg"]).removeprefix("Value error, ")
        if not field and ": " in message:
            field, message = message.split(": ", 1)
        raise SetupError(field.upper() or "settings", message) from None
