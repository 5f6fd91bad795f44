"""Inline button data: `<area>:<action>:<version>[:args...]`, at most 64 bytes.

The area names the flow a button belongs to (`book`, `cars`, `appts`, `signup`, `lang`) or the
advisor chat (`adv`). The version is the flow's step counter when the button was sent (see
bot/flows.py): a button whose version is not the flow's current one comes from an older message
and is answered as out of date instead of acting. Buttons that belong to no flow (the advisor
card's) carry `-` as version and check their target's state instead.
"""

from dataclasses import dataclass

# Telegram's limit for callback_data, in bytes.
MAX_BYTES = 64
UNVERSIONED = "-"


@dataclass(frozen=True)
class ButtonData:
    area: str
    action: str
    version: int | None
    args: tuple[str, ...] = ()

    def arg(self, index: int) -> str:
        """One argument, or "" when the button carries fewer."""
        return self.args[index] if index < len(self.args) else ""

    def int_arg(self, index: int) -> int | None:
        value = self.arg(index)
        return int(value) if value.isdigit() else None


def pack(area: str, action: str, version: int | None, *args: object) -> str:
    """Callback data for a button; raises ValueError when it would not fit Telegram's limit."""
    parts = [area, action, UNVERSIONED if version is None else str(version)]
    parts += [str(arg) for arg in args]
    if any(":" in part for part in parts):
        raise ValueError(f"callback part contains ':': {parts!r}")
    data = ":".join(parts)
    if len(data.encode()) > MAX_BYTES:
        raise ValueError(f"callback data longer than {MAX_BYTES} bytes: {data!r}")
    return data


def unpack(data: str | None) -> ButtonData | None:
    """The parts of callback data, or None when it is not ours."""
    if not data:
        return None
    parts = data.split(":")
    if len(parts) < 3 or not parts[0] or not parts[1]:
        return None
    area, action, version = parts[0], parts[1], parts[2]
    if version == UNVERSIONED:
        return ButtonData(area, action, None, tuple(parts[3:]))
    if not version.isdigit():
        return None
    return ButtonData(area, action, int(version), tuple(parts[3:]))
