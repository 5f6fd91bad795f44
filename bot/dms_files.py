"""Reading DMS exports row by row: CSV in any of the usual encodings, or XLSX.

Files are streamed, never loaded whole. The encoding of a CSV file is decided on a sample:
UTF-8 (with or without BOM) first, then GB18030 (a superset of GBK) and Big5 (as Microsoft's
cp950, which Taiwanese exports use, then Big5-HKSCS). Big5 bytes nearly always decode as GB18030
too, so a decode alone cannot tell them apart: the candidate that recognises the most column
names wins, and between equals the one whose text is made of common characters (bytes it cannot
decode count against it). Valid non-ASCII UTF-8 is taken at once: legacy bytes almost never are.
"""

import codecs
import csv
import logging
import unicodedata
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.dms_headers import header_key
from bot.errors import SetupError

logger = logging.getLogger(__name__)

SAMPLE_BYTES = 256 * 1024
HEADER_SEARCH_ROWS = 10
ENCODINGS = ("utf-8", "gb18030", "cp950", "big5hkscs")
DELIMITERS = (",", "\t", ";", "|")
# Well above any real cell; a bigger one is garbage and is reported as a bad row.
csv.field_size_limit(1024 * 1024)


@dataclass
class RawRow:
    """One record of the file: its first physical line, its cells, or why it could not be read."""

    line: int
    cells: list[Any] = field(default_factory=list)
    problem: str | None = None


@dataclass
class Table:
    path: Path
    format: str
    encoding: str | None
    header_line: int
    # The field each column feeds, by position; None for columns Carebot does not use.
    fields: list[str | None]
    ignored: list[str]
    rows: Iterator[RawRow]


@contextmanager
def open_table(path: Path, headers: dict[str, str]) -> Iterator[Table]:
    """Open a DMS export and find its header row; SetupError when that is impossible."""
    if not path.exists():
        raise SetupError(str(path), "no such file")
    if path.is_dir():
        raise SetupError(str(path), "is a folder, not a file")
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise SetupError(str(path), "old-style .xls is not read; save it as .xlsx or CSV")
    with path.open("rb") as binary:
        magic = binary.read(4)
    if suffix in (".xlsx", ".xlsm") or magic == b"PK\x03\x04":
        with _open_xlsx(path, headers) as table:
            yield table
    else:
        with _open_csv(path, headers) as table:
            yield table


def _recognised(cells: list[Any], headers: dict[str, str]) -> int:
    return len({headers[key] for key in map(header_key, cells) if key in headers})


def _map_columns(
    cells: list[Any], headers: dict[str, str], path: Path
) -> tuple[list[str | None], list[str]]:
    fields: list[str | None] = []
    ignored: list[str] = []
    seen: dict[str, str] = {}
    for cell in cells:
        name = str(cell if cell is not None else "").strip().removeprefix("\ufeff")
        target = headers.get(header_key(name))
        if target is not None and target in seen:
            raise SetupError(
                str(path), f"columns {seen[target]!r} and {name!r} both mean {target}; keep one"
            )
        if target is not None:
            seen[target] = name
        elif name:
            ignored.append(name)
        fields.append(target)
    return fields, ignored


# --- CSV ---------------------------------------------------------------------------------------


def _decoded_sample(sample: bytes, encoding: str) -> str:
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    # Not final: the sample may end inside a multi-byte character.
    return decoder.decode(sample, final=False)


def _common_share(text: str, enough: int = 4000) -> float:
    """How much of the non-ASCII text is everyday Chinese: high for the right encoding."""
    common = other = 0
    for char in text:
        if common + other >= enough:
            break
        # U+FFFD (bytes this encoding cannot read) counts against it like any odd character.
        if char.isascii() or unicodedata.category(char).startswith(("Z", "P")):
            continue
        if "\u4e00" <= char <= "\u9fff" and _everyday(char):
            common += 1
        else:
            other += 1
    return common / (common + other) if common + other else 1.0


def _everyday(char: str) -> bool:
    # GB2312 level 1 (leading bytes B0-D7) and Big5's frequent characters (A4-C6) hold the
    # characters of names, streets and car models; a wrong decode lands mostly outside both.
    for encoding, low, high in (("gb2312", 0xB0, 0xD7), ("big5", 0xA4, 0xC6)):
        try:
            lead = char.encode(encoding)[0]
        except UnicodeEncodeError:
            continue
        if low <= lead <= high:
            return True
    return False


@dataclass(frozen=True)
class _CsvLayout:
    encoding: str
    delimiter: str
    header_index: int
    recognised: int
    common: float


def _csv_layout(sample: bytes, headers: dict[str, str]) -> _CsvLayout | None:
    if sample.startswith(codecs.BOM_UTF8):
        candidates: tuple[str, ...] = ("utf-8-sig",)
    else:
        candidates = ENCODINGS
    best: _CsvLayout | None = None
    for encoding in candidates:
        text = _decoded_sample(sample, encoding)
        lines = text.splitlines()[: HEADER_SEARCH_ROWS + 1]
        common: float | None = None
        for delimiter in DELIMITERS:
            for index, cells in enumerate(csv.reader(lines, delimiter=delimiter)):
                found = _recognised(cells, headers)
                if not found or (best is not None and found < best.recognised):
                    continue
                if common is None:
                    common = _common_share(text)
                layout = _CsvLayout(encoding, delimiter, index, found, common)
                if best is None or (found, common) > (best.recognised, best.common):
                    best = layout
        strict = "\ufffd" not in text
        if best is not None and best.encoding.startswith("utf-8") and strict and not text.isascii():
            return best
    return best


@contextmanager
def _open_csv(path: Path, headers: dict[str, str]) -> Iterator[Table]:
    with path.open("rb") as binary:
        sample = binary.read(SAMPLE_BYTES)
    layout = _csv_layout(sample, headers)
    if layout is None:
        raise SetupError(
            str(path),
            "no recognised column names in the first rows (tried UTF-8, GB18030 and Big5; "
            "see README: Importing from your DMS)",
        )
    logger.info(
        "%s: %s, delimiter %r, header on row %d",
        path,
        layout.encoding,
        layout.delimiter,
        layout.header_index + 1,
    )
    # Undecodable bytes further on become U+FFFD, which the importer reports as a bad row.
    with path.open(encoding=layout.encoding, errors="replace", newline="") as text:
        reader = csv.reader(text, delimiter=layout.delimiter)
        header: list[str] = []
        for _ in range(layout.header_index + 1):
            header = next(reader, [])
        fields, ignored = _map_columns(header, headers, path)
        yield Table(
            path=path,
            format="csv",
            encoding=layout.encoding,
            header_line=reader.line_num,
            fields=fields,
            ignored=ignored,
            rows=_csv_rows(reader),
        )


def _csv_rows(reader: Any) -> Iterator[RawRow]:
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield RawRow(start, problem=f"not readable as CSV: {exc}")
            if reader.line_num < start:
                return
            continue
        if any(cell.strip() for cell in cells):
            yield RawRow(start, cells)


# --- XLSX --------------------------------------------------------------------------------------


@contextmanager
def _open_xlsx(path: Path, headers: dict[str, str]) -> Iterator[Table]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as exc:
        raise SetupError(str(path), f"not a readable XLSX file ({exc})") from None
    except Exception as exc:  # openpyxl raises many kinds on damaged files
        raise SetupError(str(path), f"not a readable XLSX file ({type(exc).__name__})") from None
    try:
        sheet = workbook.worksheets[0]
        # Some exporters write a wrong or missing size; without it every row is read.
        sheet.reset_dimensions()
        rows = sheet.iter_rows(values_only=True)
        first: list[list[Any]] = []
        try:
            for _ in range(HEADER_SEARCH_ROWS):
                first.append(list(next(rows)))
        except StopIteration:
            pass
        except Exception as exc:
            raise SetupError(str(path), f"damaged XLSX file ({type(exc).__name__})") from None
        scores = [_recognised(cells, headers) for cells in first]
        if not scores or max(scores) == 0:
            raise SetupError(
                str(path),
                "no recognised column names in the first rows of the first sheet "
                "(see README: Importing from your DMS)",
            )
        header_index = scores.index(max(scores))
        fields, ignored = _map_columns(first[header_index], headers, path)
        yield Table(
            path=path,
            format="xlsx",
            encoding=None,
            header_line=header_index + 1,
            fields=fields,
            ignored=ignored,
            rows=_xlsx_rows(first[header_index + 1 :], header_index + 2, rows),
        )
    finally:
        workbook.close()


def _xlsx_rows(buffered: list[list[Any]], first_line: int, rest: Iterator[Any]) -> Iterator[RawRow]:
    line = first_line
    for cells in buffered:
        if _non_blank(cells):
            yield RawRow(line, cells)
        line += 1
    while True:
        try:
            cells = list(next(rest))
        except StopIteration:
            return
        except Exception as exc:  # a damaged sheet: report where it broke and stop
            yield RawRow(line, problem=f"the sheet is damaged from here on ({type(exc).__name__})")
            return
        if _non_blank(cells):
            yield RawRow(line, cells)
        line += 1


def _non_blank(cells: list[Any]) -> bool:
    return any(cell is not None and str(cell).strip() for cell in cells)
