"""Phone numbers as people type them, stored as E.164 (+86 mainland, +886 Taiwan, +852 Hong Kong).

Accepted: spaces, dashes, dots, parentheses, full-width digits, a leading + or 00, and a
country code without its + (spreadsheets drop it). A number without a country code belongs to
the store's own market. Anything else is refused with a reason a person can act on.
"""

import re
import unicodedata

MAINLAND = "+86"
TAIWAN = "+886"
HONG_KONG = "+852"
COUNTRY_CODES = (TAIWAN, HONG_KONG, MAINLAND)  # longest first: "886..." is not "86" + "6..."

_MARKET_COUNTRY = {"taiwan": TAIWAN, "mainland": MAINLAND}
_SEPARATORS = re.compile(r"[\s\-.()/]")
_MAINLAND_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_HONG_KONG = re.compile(r"^[2-9]\d{7}$")


def country_for_market(market: str) -> str:
    """The calling code for numbers written without one: the store's market."""
    try:
        return _MARKET_COUNTRY[str(market)]
    except KeyError:
        raise ValueError(f"unknown market {market!r}; use taiwan or mainland") from None


def normalise_phone(text: str, default_country: str) -> str:
    """The number in E.164, or ValueError saying what is wrong with it."""
    default = _country(default_country)
    raw = unicodedata.normalize("NFKC", str(text)).strip()
    if not raw:
        raise ValueError("no phone number given")
    try:
        return _parsed(raw, default)
    except ValueError as exc:
        raise ValueError(f"{raw!r}: {exc}") from None


def _parsed(raw: str, default: str) -> str:
    compact = _SEPARATORS.sub("", raw)
    if not compact.strip("+"):
        raise ValueError("has no digits")
    if compact.startswith("+"):
        return _international(compact[1:])
    if not compact.isdigit():
        raise ValueError("has characters other than digits, spaces, dashes and +")
    if compact.startswith("00"):
        return _international(compact[2:])
    try:
        return _national(compact, default)
    except ValueError as national_problem:
        # "886912345678": a spreadsheet dropped the +; take it only when it is valid that way.
        for country in COUNTRY_CODES:
            if compact.startswith(country[1:]):
                try:
                    return _national(compact[len(country) - 1 :], country, trunk_allowed=False)
                except ValueError:
                    pass
        raise national_problem from None


def _country(code: str) -> str:
    code = code if code.startswith("+") else f"+{code}"
    if code not in COUNTRY_CODES:
        raise ValueError(f"unsupported default country {code}; use +86, +886 or +852")
    return code


def _international(digits: str) -> str:
    if not digits.isdigit():
        raise ValueError("has characters other than digits, spaces, dashes and +")
    for country in COUNTRY_CODES:
        if digits.startswith(country[1:]):
            return _national(digits[len(country) - 1 :], country, trunk_allowed=True)
    raise ValueError("only +86 (mainland), +886 (Taiwan) and +852 (Hong Kong) are accepted")


def _national(digits: str, country: str, *, trunk_allowed: bool = True) -> str:
    if country == TAIWAN:
        return TAIWAN + _taiwan(digits, trunk_allowed)
    if country == MAINLAND:
        return MAINLAND + _mainland(digits)
    return HONG_KONG + _hong_kong(digits)


def _taiwan(digits: str, trunk_allowed: bool) -> str:
    # Written nationally with the trunk 0 (0912 345 678, 02 2790 0000); after +886 without it,
    # though "+886 (0)2 ..." is common enough to accept.
    if digits.startswith("0") and trunk_allowed:
        digits = digits[1:]
    if len(digits) == 11 and digits.startswith("1"):
        raise ValueError("looks like a mainland mobile; write it with +86")
    if digits.startswith("9"):
        if len(digits) != 9:
            raise ValueError("a Taiwan mobile has 10 digits: 09 and 8 more")
        return digits
    if digits.startswith("2") and len(digits) != 9:
        raise ValueError("a Taiwan number starting 02 has 8 more digits (02 2790 0000)")
    if digits[:1] in {"2", "3", "4", "5", "6", "7", "8"}:
        if len(digits) not in (8, 9):
            raise ValueError(
                "a Taiwan landline is the area code and 6-8 digits, 9 or 10 digits with the 0 "
                "(e.g. 02 2790 0000)"
            )
        return digits
    raise ValueError("not a Taiwan number (mobiles start 09, landlines 02-08)")


def _mainland(digits: str) -> str:
    if _MAINLAND_MOBILE.match(digits):
        return digits
    if len(digits) == 10 and digits.startswith("09"):
        raise ValueError("looks like a Taiwan mobile; write it with +886")
    raise ValueError("a mainland number must be an 11-digit mobile starting with 13-19")


def _hong_kong(digits: str) -> str:
    if _HONG_KONG.match(digits):
        return digits
    raise ValueError("a Hong Kong number has 8 digits, starting with 2-9")
