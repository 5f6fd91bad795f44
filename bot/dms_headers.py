"""The column names Carebot recognises in DMS exports: English, Simplified and Traditional Chinese.

README.md ("Importing from your DMS") lists the same names; a test keeps the two in step.
"""

import re
import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    field: str
    english: tuple[str, ...]
    simplified: tuple[str, ...]
    traditional: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return self.english + self.simplified + self.traditional


_PLATE = Column(
    "plate",
    ("plate", "plate number", "licence plate", "license plate"),
    ("车牌", "车牌号", "车牌号码", "号牌号码"),
    ("車牌", "車牌號", "車牌號碼", "車號", "牌照號碼"),
)
_VIN = Column(
    "vin",
    ("vin", "chassis number"),
    ("车架号", "车身号", "车辆识别代号", "底盘号", "vin码"),
    ("車架號", "車身號碼", "車身號", "車輛識別號碼", "底盤號碼"),
)

CUSTOMER_COLUMNS = (
    Column(
        "name",
        ("name", "customer name", "owner", "owner name"),
        ("客户姓名", "姓名", "车主", "车主姓名", "客户名称"),
        ("客戶姓名", "車主", "車主姓名", "客戶名稱"),
    ),
    Column(
        "phone",
        ("phone", "mobile", "telephone", "phone number"),
        ("手机", "手机号", "手机号码", "电话", "联系电话", "移动电话"),
        ("手機", "手機號碼", "電話", "聯絡電話", "行動電話"),
    ),
    _PLATE,
    _VIN,
    Column("brand", ("brand", "make"), ("品牌", "厂牌"), ("廠牌",)),
    Column("model", ("model",), ("车型", "车款"), ("車型", "車款")),
    Column(
        "registration_date",
        ("registration date", "registered on"),
        ("上牌日期", "登记日期", "初登日期"),
        ("領牌日期", "登記日期", "發照日期", "出廠領牌日期"),
    ),
    Column(
        "manufacture_year",
        ("manufacture year", "year of manufacture", "year"),
        ("出厂年份", "出厂年", "制造年份", "年份"),
        ("出廠年份", "出廠年", "製造年份", "出廠年月"),
    ),
    Column(
        "insurance_end_date",
        ("insurance end date", "insurance end", "insurance expiry"),
        ("保险到期日", "保险到期", "交强险到期日", "保险到期日期"),
        ("保險到期日", "保險到期", "強制險到期日", "保險到期日期"),
    ),
    Column("birthday", ("birthday", "date of birth"), ("生日", "出生日期"), ("生日", "出生日期")),
    Column(
        "fleet_tag",
        ("fleet tag", "fleet", "customer type"),
        ("客户类型", "客户类别", "大客户类型"),
        ("客戶類型", "客戶類別", "大客戶類型"),
    ),
    Column(
        "marketing_consent",
        ("marketing consent", "consent"),
        ("营销同意", "同意营销", "接收营销信息"),
        ("行銷同意", "同意行銷", "接收行銷訊息"),
    ),
)

VISIT_COLUMNS = (
    _PLATE,
    _VIN,
    Column(
        "visited_on",
        ("date", "visit date", "service date", "repair date"),
        ("进站日期", "进厂日期", "入厂日期", "维修日期", "服务日期", "日期"),
        ("進廠日期", "進站日期", "入廠日期", "維修日期", "服務日期", "日期"),
    ),
    Column(
        "km",
        ("odometer km", "odometer", "km", "mileage"),
        ("里程", "里程数", "进厂里程", "公里数"),
        ("公里數", "里程數", "進廠里程", "里程"),
    ),
    Column(
        "kind",
        ("kind", "type", "service type", "repair type"),
        ("维修类型", "维修类别", "服务类型", "类别", "工单类型"),
        ("維修類別", "維修類型", "服務類型", "類別", "工單類型"),
    ),
    Column(
        "amount",
        ("amount", "total", "total amount"),
        ("金额", "总金额", "结算金额"),
        ("金額", "總金額", "結帳金額"),
    ),
    Column(
        "from_appointment",
        ("from appointment", "appointment", "booked"),
        ("预约", "是否预约"),
        ("預約", "是否預約"),
    ),
    Column(
        "repair_order",
        ("repair order", "repair order number", "ro", "ro number", "work order"),
        ("工单号", "工单号码", "工单编号", "委托书号", "维修单号"),
        ("工單號", "工單號碼", "工單編號", "維修單號", "委修單號"),
    ),
)

_UNITS = re.compile(r"[(\[（【].*?[)\]）】]")
_NOISE = re.compile(r"[\s_\-./:：*]")


def header_key(text: object) -> str:
    """A header as compared: width and case folded, units in brackets and punctuation dropped."""
    folded = unicodedata.normalize("NFKC", str(text or "")).lower()
    return _NOISE.sub("", _UNITS.sub("", folded)).removeprefix("\ufeff")


def _lookup(columns: tuple[Column, ...]) -> dict[str, str]:
    return {header_key(name): column.field for column in columns for name in column.names}


CUSTOMER_HEADERS = _lookup(CUSTOMER_COLUMNS)
VISIT_HEADERS = _lookup(VISIT_COLUMNS)
