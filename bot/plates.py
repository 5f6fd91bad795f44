"""Licence plates as people type them, in one canonical spelling per plate.

Mainland: a province character, a letter and 5 characters (京A12345, 粤B1234学), or 6 for
new-energy vehicles (粤BD12345). Taiwan private cars: ABC-1234 (since 2012) and AB-1234 or
1234-AB (older). Case, spaces, dashes, the middle dot and full-width characters are folded, so
"abc1234", "ＡＢＣ－１２３４" and "ABC 1234" are the same plate. Anything else is refused with a
reason.
"""

import re
import unicodedata

# The characters that start a mainland plate; people also type traditional forms of some.
PROVINCES = frozenset("京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼")
_TRADITIONAL_FORMS = str.maketrans(
    "滬遼魯蘇贛晉陝閩貴粵寧瓊雲學掛", "沪辽鲁苏赣晋陕闽贵粤宁琼云学挂"
)
# Plates leave out I and O so they are not read as 1 and 0.
_PLATE_CHAR = "A-HJ-NP-Z0-9"
_MAINLAND_ORDINARY = re.compile(rf"^[{_PLATE_CHAR}]{{5}}$|^[{_PLATE_CHAR}]{{4}}[学警挂港澳]$")
# New-energy: small cars put the energy letter first (D/A-E electric, F-K hybrid), large ones
# put D or F last.
_MAINLAND_NEW_ENERGY = re.compile(rf"^[A-HJK][{_PLATE_CHAR}]\d{{4}}$|^\d{{5}}[DF]$")
_TAIWAN = (
    (re.compile(r"^([A-Z]{3})(\d{4})$"), "{}-{}"),
    (re.compile(r"^([A-Z]{2})(\d{4})$"), "{}-{}"),
    (re.compile(r"^(\d{4})([A-Z]{2})$"), "{}-{}"),
)
_FOLDED_AWAY = re.compile(r"[\s\-·•.]")
# Taiwan plates already spelt canonically (ABC-1234, AB-1234, 1234-AB), as most DMS cells are.
_CANONICAL_TAIWAN = re.compile(r"[A-Z]{2,3}-[0-9]{4}|[0-9]{4}-[A-Z]{2}")


def normalise_plate(text: str) -> str:
    """The canonical plate (京A12345, ABC-1234), or ValueError saying what is wrong."""
    if _CANONICAL_TAIWAN.fullmatch(text):
        return text
    raw = unicodedata.normalize("NFKC", str(text)).strip()
    plate = _FOLDED_AWAY.sub("", raw).upper().translate(_TRADITIONAL_FORMS)
    if not plate:
        raise ValueError("no plate given")
    if not plate.isascii():
        return _mainland(plate, raw)
    for pattern, shape in _TAIWAN:
        match = pattern.match(plate)
        if match:
            return shape.format(*match.groups())
    if not plate.isalnum():
        raise ValueError(f"{raw!r} has characters a plate does not use")
    raise ValueError(
        f"{raw!r} is not a plate: Taiwan plates look like ABC-1234 or AB-1234, "
        "mainland plates like 京A12345"
    )


def _mainland(plate: str, raw: str) -> str:
    province, rest = plate[0], plate[1:]
    if province not in PROVINCES:
        raise ValueError(f"{raw!r}: {province!r} is not a mainland province abbreviation")
    if not rest[:1].isascii() or not rest[:1].isalpha():
        raise ValueError(f"{raw!r}: a letter must follow the province character")
    suffix = rest[1:]
    if len(suffix) == 5:
        if _MAINLAND_ORDINARY.match(suffix):
            return plate
        raise ValueError(f"{raw!r}: the last 5 characters must be letters (not I or O) and digits")
    if len(suffix) == 6:
        if _MAINLAND_NEW_ENERGY.match(suffix):
            return plate
        raise ValueError(
            f"{raw!r}: a new-energy plate has D or F (or A-K) and 5 more, or 5 digits and D or F"
        )
    raise ValueError(
        f"{raw!r} has {len(plate)} characters; mainland plates have 7, or 8 for new-energy vehicles"
    )
