"""Request validation against the machine-readable Bot API reference (api.json)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.sandbox.entities import utf16_len

_INTEGER = re.compile(r"-?\d+")
_FLOAT = re.compile(r"-?\d+(\.\d*)?([eE][-+]?\d+)?")
_DISCRIMINATOR = re.compile(r"(?:must be|always) [“\"]?([a-z_]+)[”\"]?")
_RANGE = re.compile(r"(\d+)-(\d+) (characters|bytes)")
_BOOLEAN_WORDS = {"true", "false", "1", "0"}
_WRONG_KIND = " names another subtype"

# Where Telegram answers a documented limit with its own error code, use that text.
_TELEGRAM_REASONS = {("InlineKeyboardButton", "callback_data"): "BUTTON_DATA_INVALID"}


class Upload:
    """A file that arrived as a multipart part; spec checks treat it as an InputFile."""

    def __init__(self, name: str, filename: str, content: bytes, mime_type: str | None) -> None:
        self.name = name
        self.filename = filename
        self.content = content
        self.mime_type = mime_type

    def __repr__(self) -> str:
        return f"Upload({self.filename!r}, {len(self.content)} bytes)"


@dataclass
class FieldSpec:
    """One documented parameter or object field."""

    name: str
    types: list[str]
    required: bool
    description: str

    @property
    def limit(self) -> tuple[int, int, str] | None:
        """Length limit stated in the description, unless it applies after entity parsing."""
        if "after entit" in self.description:
            return None
        match = _RANGE.search(self.description)
        if not match:
            return None
        return int(match.group(1)), int(match.group(2)), match.group(3)


@dataclass
class Report:
    """Outcome of checking one request: fatal errors and flagged-but-accepted remarks."""

    errors: list[str] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)
    answer: str | None = None  # the 400 description Telegram would give for the first error


def _decode_json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class Spec:
    """The Bot API reference, indexed for case-insensitive method lookup and type checks."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.version: str = data.get("version", "")
        self.methods: dict[str, dict[str, Any]] = {
            name.lower(): method for name, method in data["methods"].items()
        }
        self.types: dict[str, dict[str, Any]] = data["types"]

    @classmethod
    def load(cls, path: Path) -> Spec:
        """Read api.json from ``path``."""
        return cls(json.loads(Path(path).read_text(encoding="utf-8")))

    def method_name(self, name: str) -> str | None:
        """Return the documented spelling of a method, or None when it does not exist."""
        method = self.methods.get(name.lower())
        return method["name"] if method else None

    def fields(self, owner: dict[str, Any]) -> list[FieldSpec]:
        """Return the fields of a method or type."""
        return [
            FieldSpec(f["name"], f["types"], f["required"], " ".join([f.get("description", "")]))
            for f in owner.get("fields", [])
        ]

    def check_request(
        self, method: str, params: dict[str, Any], files: dict[str, Upload]
    ) -> Report:
        """Check a request's parameters (and uploaded parts) against the method's definition."""
        report = Report()
        definition = self.methods.get(method.lower())
        if definition is None:
            report.errors.append(f'method "{method}" does not exist')
            return report
        known = {f.name: f for f in self.fields(definition)}
        attached = {
            value.removeprefix("attach://")
            for value in _strings_in(params)
            if value.startswith("attach://")
        }
        for name in [*params, *files]:
            if name not in known and name not in attached:
                report.remarks.append(f'unknown parameter "{name}"')
        for spec_field in known.values():
            if spec_field.name in files:
                if not any("InputFile" in t for t in spec_field.types):
                    report.errors.append(f'parameter "{spec_field.name}" can\'t be a file upload')
                continue
            if spec_field.name not in params:
                if spec_field.required:
                    report.errors.append(f'parameter "{spec_field.name}" is required')
                continue
            self._check(
                spec_field.types,
                params[spec_field.name],
                spec_field.name,
                report,
                owner=definition["name"],
                spec_field=spec_field,
            )
        if report.errors and report.answer is None:
            report.answer = report.errors[0]
        return report

    def check_value(self, types: list[str], value: Any, path: str = "result") -> list[str]:
        """Check a (JSON-decoded) value against a list of alternative types; return problems."""
        report = Report()
        self._check(types, value, path, report, owner=None, spec_field=None)
        return report.errors

    def _check(
        self,
        types: list[str],
        value: Any,
        path: str,
        report: Report,
        owner: str | None,
        spec_field: FieldSpec | None,
    ) -> None:
        """Accept ``value`` if any alternative type fits; else report the closest mismatch."""
        if len(types) > 1 and all(t.startswith("Array of ") for t in types):
            # "Array of InputMediaPhoto or InputMediaVideo ...": items may mix those types.
            types = ["Array of " + "|".join(t.removeprefix("Array of ") for t in types)]
        if len(types) == 1 and "|" in types[0] and not types[0].startswith("Array of "):
            types = types[0].split("|")
        best: Report | None = None
        mismatched_kinds = 0
        for type_name in types:
            attempt = Report()
            self._check_one(type_name, value, path, attempt)
            if not attempt.errors:
                report.remarks.extend(attempt.remarks)
                best = None
                break
            if any(e.endswith(_WRONG_KIND) for e in attempt.errors):
                mismatched_kinds += 1
                continue
            if best is None or len(attempt.errors) < len(best.errors):
                best = attempt
        else:
            if best is None and mismatched_kinds:
                kinds = value.get("type") if isinstance(value, dict) else None
                report.errors.append(f'{path}: unsupported type "{kinds}"')
                return
            if best is not None:
                report.errors.extend(best.errors)
                if report.answer is None:
                    report.answer = best.answer
            return
        if spec_field is not None and isinstance(value, str | int | float):
            self._check_limit(owner or "", spec_field, str(value), path, report)

    def _check_limit(
        self, owner: str, spec_field: FieldSpec, value: str, path: str, report: Report
    ) -> None:
        limit = spec_field.limit
        if limit is None or "String" not in spec_field.types:
            return
        low, high, unit = limit
        size = len(value.encode("utf-8")) if unit == "bytes" else utf16_len(value)
        if not low <= size <= high:
            report.errors.append(f"{path} must be {low}-{high} {unit}, got {size}")
            reason = _TELEGRAM_REASONS.get((owner, spec_field.name))
            if reason and report.answer is None:
                report.answer = reason

    def _check_one(self, type_name: str, value: Any, path: str, report: Report) -> None:
        if type_name.startswith("Array of "):
            items = _decode_json(value)
            if not isinstance(items, list):
                report.errors.append(f"{path} must be of type {type_name}")
                return
            inner = type_name.removeprefix("Array of ")
            for index, item in enumerate(items):
                self._check([inner], item, f"{path}[{index}]", report, None, None)
            return
        if type_name == "Integer":
            ok = (isinstance(value, int) and not isinstance(value, bool)) or (
                isinstance(value, str) and _INTEGER.fullmatch(value.strip()) is not None
            )
        elif type_name == "Float":
            ok = (isinstance(value, int | float) and not isinstance(value, bool)) or (
                isinstance(value, str) and _FLOAT.fullmatch(value.strip()) is not None
            )
        elif type_name == "Boolean":
            ok = isinstance(value, bool) or (
                isinstance(value, str) and value.lower() in _BOOLEAN_WORDS
            )
        elif type_name == "String":
            # Telegram converts numbers given for strings, so only structures are wrong here.
            ok = isinstance(value, str | int | float) and not isinstance(value, bool)
        elif type_name == "InputFile":
            ok = isinstance(value, Upload)
        else:
            self._check_object(type_name, value, path, report)
            return
        if not ok:
            report.errors.append(f"{path} must be of type {type_name}")

    def _check_object(self, type_name: str, value: Any, path: str, report: Report) -> None:
        definition = self.types.get(type_name)
        if definition is None:
            report.errors.append(f"{path}: unknown type {type_name}")
            return
        obj = _decode_json(value)
        if not isinstance(obj, dict):
            report.errors.append(f"{path} must be of type {type_name}")
            return
        if definition.get("subtypes"):
            self._check(definition["subtypes"], obj, path, report, None, None)
            return
        known = {f.name: f for f in self.fields(definition)}
        for name in obj:
            if name not in known:
                report.remarks.append(f'{path}: unknown field "{name}" in {type_name}')
        for spec_field in known.values():
            if spec_field.name not in obj:
                if spec_field.required:
                    report.errors.append(
                        f'{path}: field "{spec_field.name}" of {type_name} is required'
                    )
                continue
            sub_path = f"{path}.{spec_field.name}"
            field_value = obj[spec_field.name]
            if spec_field.name == "type" and spec_field.types == ["String"]:
                # Subtypes name themselves in "type"/"status"; a mismatch rules the subtype out.
                expected = _DISCRIMINATOR.search(spec_field.description)
                if expected and field_value != expected.group(1):
                    report.errors.append(f"{sub_path}{_WRONG_KIND}")
                    continue
            if spec_field.name in {"status", "source"} and spec_field.types == ["String"]:
                expected = _DISCRIMINATOR.search(spec_field.description)
                if expected and field_value != expected.group(1):
                    report.errors.append(f"{sub_path}{_WRONG_KIND}")
                    continue
            self._check(spec_field.types, field_value, sub_path, report, type_name, spec_field)


def _strings_in(value: Any) -> list[str]:
    """Collect every string nested in a parameter value (decoding JSON-encoded ones)."""
    found: list[str] = []
    stack = [value]
    while stack:
        item = _decode_json(stack.pop())
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            found.append(item)
        elif isinstance(item, Upload):
            continue
    return found
