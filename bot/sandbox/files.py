"""File storage: ids, paths, photo sizes and the Bot API objects describing each file."""

from __future__ import annotations

import secrets
import struct

from bot.sandbox.records import JSON, StoredFile

# Prefixes resembling Telegram's, so ids look familiar in logs; the rest is random.
_ID_PREFIX = {
    "photo": "AgACAgIAAxkBAA",
    "document": "BQACAgIAAxkBAA",
    "voice": "AwACAgIAAxkBAA",
    "video": "BAACAgIAAxkBAA",
    "audio": "CQACAgIAAxkBAA",
    "sticker": "CAACAgIAAxkBAA",
    "animation": "CgACAgIAAxkBAA",
}
_FOLDER = {
    "photo": "photos",
    "voice": "voice",
    "video": "videos",
    "audio": "music",
    "sticker": "stickers",
    "animation": "animations",
}
_EXTENSION = {
    "photo": "jpg",
    "voice": "oga",
    "video": "mp4",
    "audio": "mp3",
    "sticker": "webp",
    "animation": "mp4",
}
_PHOTO_SIDES = (90, 320, 800, 1280)
DEFAULT_PHOTO_SIZE = (1280, 960)


def image_size(content: bytes) -> tuple[int, int] | None:
    """Read width and height from PNG or JPEG bytes, if recognisable."""
    if content[:8] == b"\x89PNG\r\n\x1a\n" and len(content) >= 24:
        width, height = struct.unpack(">II", content[16:24])
        return width, height
    if content[:2] == b"\xff\xd8":
        index = 2
        while index + 9 < len(content):
            if content[index] != 0xFF:
                return None
            marker = content[index + 1]
            length = struct.unpack(">H", content[index + 2 : index + 4])[0]
            if marker in {0xC0, 0xC1, 0xC2}:
                height, width = struct.unpack(">HH", content[index + 5 : index + 9])
                return width, height
            index += 2 + length
    return None


class FileStore:
    """All files known to the sandbox, addressable by file_id and by download path."""

    def __init__(self) -> None:
        self.by_id: dict[str, StoredFile] = {}
        self.by_path: dict[str, StoredFile] = {}
        self._photo_sets: dict[str, list[JSON]] = {}
        self._counter = 0

    def add(
        self,
        kind: str,
        content: bytes,
        *,
        mime_type: str | None = None,
        file_name: str | None = None,
        width: int | None = None,
        height: int | None = None,
        duration: int | None = None,
        source_url: str | None = None,
    ) -> StoredFile:
        """Store content and give it a fresh file_id, file_unique_id and download path."""
        self._counter += 1
        extension = _EXTENSION.get(kind) or (
            file_name.rsplit(".", 1)[-1] if file_name and "." in file_name else "bin"
        )
        path = f"{_FOLDER.get(kind, 'documents')}/file_{self._counter}.{extension}"
        stored = StoredFile(
            file_id=_ID_PREFIX.get(kind, _ID_PREFIX["document"]) + secrets.token_urlsafe(36),
            file_unique_id="AQAD" + secrets.token_urlsafe(9),
            kind=kind,
            content=content,
            file_path=path,
            mime_type=mime_type,
            file_name=file_name,
            width=width,
            height=height,
            duration=duration,
            source_url=source_url,
        )
        self.by_id[stored.file_id] = stored
        self.by_path[path] = stored
        return stored

    def add_photo(self, content: bytes, source_url: str | None = None) -> list[JSON]:
        """Store a photo the way Telegram does: several scaled sizes, smallest first."""
        width, height = image_size(content) or DEFAULT_PHOTO_SIZE
        longest = max(width, height)
        smaller = [side for side in _PHOTO_SIDES if side < longest][:3]
        sides = [*smaller, min(longest, 2560)]
        sizes: list[JSON] = []
        for side in sides:
            scale = side / longest
            w, h = max(1, round(width * scale)), max(1, round(height * scale))
            stored = self.add("photo", content, width=w, height=h, source_url=source_url)
            sizes.append(
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "file_size": len(content),
                    "width": w,
                    "height": h,
                }
            )
        for size in sizes:
            self._photo_sets[size["file_id"]] = sizes
        return sizes

    def photo_sizes(self, file_id: str) -> list[JSON]:
        """The full set of sizes a photo file_id belongs to."""
        return self._photo_sets.get(file_id) or []

    def payload(self, stored: StoredFile, **extra: object) -> JSON:
        """The Bot API object describing a stored non-photo file (Document, Voice, ...)."""
        data: JSON = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.content),
        }
        if stored.kind in {"document", "audio", "video", "animation"} and stored.file_name:
            data["file_name"] = stored.file_name
        if stored.mime_type and stored.kind != "sticker":
            data["mime_type"] = stored.mime_type
        if stored.kind in {"voice", "video", "audio", "animation"}:
            data["duration"] = stored.duration or 0
        if stored.kind in {"video", "animation", "sticker"}:
            data["width"] = stored.width or (512 if stored.kind == "sticker" else 640)
            data["height"] = stored.height or (512 if stored.kind == "sticker" else 480)
        if stored.kind == "sticker":
            data.update(type="regular", is_animated=False, is_video=False)
        data.update({k: v for k, v in extra.items() if v is not None})
        return data
