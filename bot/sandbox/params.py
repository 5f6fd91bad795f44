"""Typed access to request parameters, coercing form values the way Telegram does."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from bot.sandbox.errors import violation
from bot.sandbox.spec import Upload


class Params:
    """A request's parameters: raw strings (form, query) or JSON values, plus uploaded parts."""

    def __init__(self, values: dict[str, Any], files: dict[str, Upload] | None = None) -> None:
        self.values = values
        self.files = files or {}

    def __contains__(self, name: str) -> bool:
        return name in self.values or name in self.files

    def raw(self, name: str) -> Any:
        """Return the value as received."""
        return self.values.get(name)

    def string(self, name: str, default: str | None = None) -> str | None:
        """Return a String parameter."""
        value = self.values.get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise violation(f'parameter "{name}" must be a string')
        return str(value)

    def integer(self, name: str, default: int | None = None) -> int | None:
        """Return an Integer parameter; numeric strings are accepted."""
        value = self.values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return int(value)
        try:
            return int(value)
        except (TypeError, ValueError):
            raise violation(f'parameter "{name}" must be an Integer') from None

    def number(self, name: str, default: float | None = None) -> float | None:
        """Return a Float parameter."""
        value = self.values.get(name)
        if value is None or value == "":
            return default
        try:
            return float(value)
        except (TypeError, ValueError):
            raise violation(f'parameter "{name}" must be a Float') from None

    def boolean(self, name: str, default: bool = False) -> bool:
        """Return a Boolean parameter; "true"/"false"/"1"/"0" are accepted."""
        value = self.values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value != 0
        if isinstance(value, str) and value.lower() in {"true", "1"}:
            return True
        if isinstance(value, str) and value.lower() in {"false", "0"}:
            return False
        raise violation(f'parameter "{name}" must be a Boolean')

    def json(self, name: str) -> Any:
        """Return an object or array parameter, decoding a JSON-serialized string."""
        value = self.values.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise violation(f"can't parse {name} JSON object") from None
        return value

    def object(self, name: str) -> dict[str, Any] | None:
        """Return an object parameter."""
        value = self.json(name)
        if value is not None and not isinstance(value, dict):
            raise violation(f"can't parse {name} JSON object")
        return value

    def array(self, name: str) -> list[Any] | None:
        """Return an array parameter."""
        value = self.json(name)
        if value is not None and not isinstance(value, list):
            raise violation(f'parameter "{name}" must be an Array')
        return value

    def input_file(self, name: str) -> Upload | str | None:
        """Return a file parameter: an uploaded part, or a file_id / URL / attach:// string."""
        if name in self.files:
            return self.files[name]
        value = self.values.get(name)
        if isinstance(value, str) and value.startswith("attach://"):
            part = self.files.get(value.removeprefix("attach://"))
            if part is None:
                raise violation(f"wrong file identifier/HTTP URL specified ({name})")
            return part
        return self.string(name)

    def attachment(self, reference: Any) -> Upload | str:
        """Resolve a media value found inside an object (InputMedia.media)."""
        if isinstance(reference, str) and reference.startswith("attach://"):
            part = self.files.get(reference.removeprefix("attach://"))
            if part is None:
                raise violation("wrong file identifier/HTTP URL specified")
            return part
        if not isinstance(reference, str) or not reference:
            raise violation("wrong file identifier/HTTP URL specified")
        return reference

    def readable(self) -> dict[str, Any]:
        """Parameters with JSON-serialized values decoded, for the request log."""
        out: dict[str, Any] = {}
        for key, value in self.values.items():
            if isinstance(value, str) and value[:1] in "[{":
                with contextlib.suppress(ValueError):
                    value = json.loads(value)
            out[key] = value
        return out
