"""Cell values of DMS exports as typed values; each parser raises ValueError with a reason.

Cells come as text from CSV and as numbers or datetimes from XLSX. Taiwanese exports often
write dates in the Republic of China calendar (113/05/01 is 2024-05-01), so a three-digit year
is read that way.
"""

import datetime as dt
import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.models import FleetTag, VisitKind

MAX_KM = 2_000_000
MAX_AMOUNT = Decimal("9999999999.99")
_ROC_OFFSET = 1911
_DATE = re.compile(
    r"^(\d{3,4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?$"
)
_COMPACT_DATE = re.compile(r"^(\d{3,4})(\d{2})(\d{2})$")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_YEAR = re.compile(r"^(\d{3,4})(?:[-/.年]\d{1,2}月?)?$")
_VIN = re.compile(r"^[A-HJ-NPR-Z0-9]{17}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CURRENCY = re.compile(r"(?i)nt\$|rmb|cny|twd|hk\$|[$¥￥元,\s]")

_TRUE = {"1", "y", "yes", "true", "t", "是", "有", "同意", "接受", "√", "✓"}
_FALSE = {"0", "n", "no", "false", "f", "否", "无", "無", "不同意", "拒绝", "拒絕", "-"}

# First match wins, so the specific words come before the general ones ("保修" is a repair,
# "出租车" a taxi).
_KINDS: tuple[tuple[str, VisitKind], ...] = (
    ("maint", VisitKind.MAINTENANCE),
    ("保养", VisitKind.MAINTENANCE),
    ("保養", VisitKind.MAINTENANCE),
    ("首保", VisitKind.MAINTENANCE),
    ("定保", VisitKind.MAINTENANCE),
    ("body", VisitKind.BODYWORK),
    ("钣", VisitKind.BODYWORK),
    ("鈑", VisitKind.BODYWORK),
    ("喷漆", VisitKind.BODYWORK),
    ("烤漆", VisitKind.BODYWORK),
    ("事故", VisitKind.BODYWORK),
    ("inspect", VisitKind.INSPECTION),
    ("年检", VisitKind.INSPECTION),
    ("年審", VisitKind.INSPECTION),
    ("验车", VisitKind.INSPECTION),
    ("驗車", VisitKind.INSPECTION),
    ("检测", VisitKind.INSPECTION),
    ("repair", VisitKind.REPAIR),
    ("维修", VisitKind.REPAIR),
    ("維修", VisitKind.REPAIR),
    ("修理", VisitKind.REPAIR),
    ("保修", VisitKind.REPAIR),
    ("索赔", VisitKind.REPAIR),
    ("索賠", VisitKind.REPAIR),
    ("service", VisitKind.MAINTENANCE),
    ("other", VisitKind.OTHER),
    ("其他", VisitKind.OTHER),
    ("美容", VisitKind.OTHER),
    ("洗车", VisitKind.OTHER),
    ("洗車", VisitKind.OTHER),
)
_FLEET: tuple[tuple[str, FleetTag], ...] = (
    ("gov", FleetTag.GOVERNMENT),
    ("政府", FleetTag.GOVERNMENT),
    ("机关", FleetTag.GOVERNMENT),
    ("機關", FleetTag.GOVERNMENT),
    ("公务", FleetTag.GOVERNMENT),
    ("公務", FleetTag.GOVERNMENT),
    ("taxi", FleetTag.TAXI),
    ("出租车", FleetTag.TAXI),
    ("計程車", FleetTag.TAXI),
    ("的士", FleetTag.TAXI),
    ("网约车", FleetTag.TAXI),
    ("rent", FleetTag.RENTAL),
    ("租赁", FleetTag.RENTAL),
    ("租賃", FleetTag.RENTAL),
    ("租车", FleetTag.RENTAL),
    ("租車", FleetTag.RENTAL),
    ("enterprise", FleetTag.ENTERPRISE),
    ("company", FleetTag.ENTERPRISE),
    ("企业", FleetTag.ENTERPRISE),
    ("企業", FleetTag.ENTERPRISE),
    ("公司", FleetTag.ENTERPRISE),
    ("外企", FleetTag.ENTERPRISE),
    ("外商", FleetTag.ENTERPRISE),
    ("private", FleetTag.PRIVATE),
    ("私人", FleetTag.PRIVATE),
    ("个人", FleetTag.PRIVATE),
    ("個人", FleetTag.PRIVATE),
    ("自用", FleetTag.PRIVATE),
)


def text(cell: Any, *, limit: int | None = None, what: str = "value") -> str | None:
    """The cell as trimmed text (None when blank); integral numbers lose their ".0"."""
    if cell is None:
        return None
    if type(cell) is str:  # CSV cells, nearly all of them: the quick way
        value = cell
    elif isinstance(cell, bool):
        value = "1" if cell else "0"
    elif isinstance(cell, float) and cell.is_integer():
        value = str(int(cell))
    elif isinstance(cell, dt.datetime):
        value = cell.date().isoformat() if cell.time() == dt.time() else cell.isoformat(" ")
    else:
        value = str(cell)
    value = " ".join(value.split())
    if not value:
        return None
    if _CONTROL.search(value):
        raise ValueError("has control characters")
    if limit is not None and len(value) > limit:
        raise ValueError(f"{what} is longer than {limit} characters")
    return value


def parse_date(cell: Any) -> dt.date | None:
    if isinstance(cell, dt.datetime):
        return _plausible(cell.date())
    if isinstance(cell, dt.date):
        return _plausible(cell)
    value = text(cell)
    if value is None:
        return None
    if _ISO_DATE.fullmatch(value):
        # Most exports write YYYY-MM-DD, which needs neither folding nor the general pattern.
        year, month, day = int(value[:4]), int(value[5:7]), int(value[8:])
    else:
        value = unicodedata.normalize("NFKC", value)
        match = _DATE.match(value) or _COMPACT_DATE.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a date (use YYYY-MM-DD)")
        year, month, day = (int(part) for part in match.groups())
    if year < 1000:
        year += _ROC_OFFSET
    try:
        return _plausible(dt.date(year, month, day))
    except ValueError:
        raise ValueError(f"{value!r} is not a real date") from None


def _plausible(day: dt.date) -> dt.date:
    if not 1900 <= day.year <= 2100:
        raise ValueError(f"{day.isoformat()} is not a plausible date")
    return day


def parse_year(cell: Any) -> int | None:
    if isinstance(cell, dt.date):
        return _plausible(cell if not isinstance(cell, dt.datetime) else cell.date()).year
    value = text(cell)
    if value is None:
        return None
    match = _YEAR.match(unicodedata.normalize("NFKC", value))
    if not match:
        raise ValueError(f"{value!r} is not a year")
    year = int(match.group(1))
    if year < 1000:
        year += _ROC_OFFSET
    if not 1900 <= year <= 2100:
        raise ValueError(f"{value!r} is not a plausible year")
    return year


def parse_km(cell: Any) -> int | None:
    value = text(cell)
    if value is None:
        return None
    digits = unicodedata.normalize("NFKC", value).lower().replace(",", "").removesuffix("km")
    digits = digits.removesuffix("公里").strip()
    try:
        number = Decimal(digits)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number of km") from None
    if not number.is_finite() or number < 0 or number > MAX_KM:
        raise ValueError(f"{value!r} km is out of range (0-{MAX_KM:,})")
    return int(number)


def parse_amount(cell: Any) -> Decimal | None:
    value = text(cell)
    if value is None:
        return None
    try:
        number = Decimal(_CURRENCY.sub("", unicodedata.normalize("NFKC", value)))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not an amount") from None
    if not number.is_finite() or number < 0 or number > MAX_AMOUNT:
        raise ValueError(f"{value!r} is out of range for an amount")
    return number.quantize(Decimal("0.01"))


def parse_bool(cell: Any) -> bool | None:
    value = text(cell)
    if value is None:
        return None
    folded = unicodedata.normalize("NFKC", value).lower()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise ValueError(f"{value!r} is not yes or no (use 1/0, yes/no, 是/否)")


def parse_kind(cell: Any) -> VisitKind:
    value = text(cell)
    if value is None:
        return VisitKind.OTHER
    folded = unicodedata.normalize("NFKC", value).lower()
    for word, kind in _KINDS:
        if word in folded:
            return kind
    raise ValueError(
        f"{value!r} is not a visit kind (maintenance, repair, bodywork, inspection, other, "
        "or 保養/維修/鈑噴/驗車)"
    )


def parse_fleet_tag(cell: Any) -> FleetTag | None:
    value = text(cell)
    if value is None:
        return None
    folded = unicodedata.normalize("NFKC", value).lower()
    for word, tag in _FLEET:
        if word in folded:
            return tag
    raise ValueError(
        f"{value!r} is not a fleet tag (government, enterprise, taxi, rental, private)"
    )


def parse_vin(cell: Any) -> str | None:
    value = text(cell)
    if value is None:
        return None
    vin = unicodedata.normalize("NFKC", value).upper().replace(" ", "").replace("-", "")
    if not _VIN.match(vin):
        raise ValueError(f"{value!r} is not a VIN (17 letters and digits, no I, O or Q)")
    return vin
