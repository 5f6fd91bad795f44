"""Phones become E.164 and plates one canonical spelling, whatever people type; the rest is refused."""

import pytest

from bot.phones import country_for_market, normalise_phone
from bot.plates import normalise_plate


@pytest.mark.parametrize(
    ("typed", "default", "stored"),
    [
        # Taiwan mobiles: with the trunk 0, with the country code, spaced, dashed, full width.
        ("0912345678", "+886", "+886912345678"),
        ("0912-345-678", "+886", "+886912345678"),
        ("0912 345 678", "+886", "+886912345678"),
        ("+886 912 345 678", "+886", "+886912345678"),
        ("+886-0912-345-678", "+886", "+886912345678"),
        ("00886912345678", "+86", "+886912345678"),
        ("886912345678", "+886", "+886912345678"),
        ("０９１２３４５６７８", "+886", "+886912345678"),
        ("912345678", "+886", "+886912345678"),
        # Taiwan landlines: Taipei 02 + 8 digits, Hsinchu 03 + 7, parentheses, toll-free.
        ("(02) 2790-0000", "+886", "+886227900000"),
        ("02-2790-0000", "+886", "+886227900000"),
        ("+886 2 2790 0000", "+886", "+886227900000"),
        ("03-5123456", "+886", "+88635123456"),
        ("0800-000-123", "+886", "+886800000123"),
        # Mainland mobiles.
        ("13812345678", "+86", "+8613812345678"),
        ("138-1234-5678", "+86", "+8613812345678"),
        ("+86 138 1234 5678", "+886", "+8613812345678"),
        ("0086 13812345678", "+886", "+8613812345678"),
        ("8613812345678", "+886", "+8613812345678"),
        ("86 199 1234 5678", "86", "+8619912345678"),
        # Hong Kong: 8 digits.
        ("+852 9123 4567", "+886", "+85291234567"),
        ("91234567", "+852", "+85291234567"),
        ("852-2123-4567", "+86", "+85221234567"),
    ],
)
def test_phone_numbers_are_stored_in_e164(typed: str, default: str, stored: str) -> None:
    assert normalise_phone(typed, default) == stored


@pytest.mark.parametrize(
    ("typed", "default", "reason"),
    [
        ("", "+886", "no phone number"),
        ("   ", "+886", "no phone number"),
        ("--", "+886", "no digits"),
        ("0912-345-67", "+886", "10 digits"),
        ("09123456789", "+886", "10 digits"),
        ("13812345678", "+886", "+86"),
        ("0912345678", "+86", "+886"),
        ("1381234567", "+86", "11-digit mobile"),
        ("12812345678", "+86", "11-digit mobile"),
        ("+1 415 555 0100", "+886", "only +86"),
        ("+44 20 7946 0000", "+86", "only +86"),
        ("0912abc678", "+886", "characters other than digits"),
        ("0912345678 ext 12", "+886", "characters other than digits"),
        ("+852 1234 5678", "+886", "Hong Kong"),
        ("1234567", "+852", "Hong Kong"),
        ("2790 0000", "+886", "Taiwan"),
    ],
)
def test_impossible_phone_numbers_are_refused_with_a_reason(
    typed: str, default: str, reason: str
) -> None:
    with pytest.raises(ValueError, match=reason.replace("+", r"\+")):
        normalise_phone(typed, default)


def test_bare_numbers_take_the_country_of_the_store_market() -> None:
    assert country_for_market("taiwan") == "+886"
    assert country_for_market("mainland") == "+86"
    assert normalise_phone("0912345678", country_for_market("taiwan")) == "+886912345678"
    assert normalise_phone("13812345678", country_for_market("mainland")) == "+8613812345678"
    with pytest.raises(ValueError, match="unknown market"):
        country_for_market("japan")
    with pytest.raises(ValueError, match="default country"):
        normalise_phone("0912345678", "+81")


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        # Taiwan, new and old shapes, with or without the dash, any case, full width.
        ("ABC-1234", "ABC-1234"),
        ("abc1234", "ABC-1234"),
        ("ABC 1234", "ABC-1234"),
        ("ＡＢＣ－１２３４", "ABC-1234"),
        ("AB-1234", "AB-1234"),
        ("ab1234", "AB-1234"),
        ("1234-AB", "1234-AB"),
        # Mainland ordinary plates: province, letter, 5 characters; the dot people write.
        ("京A12345", "京A12345"),
        ("京a·12345", "京A12345"),
        ("沪B 8C9D7", "沪B8C9D7"),
        ("粤B1234学", "粤B1234学"),
        # Traditional characters for the province are folded to the plate's own.
        ("粵B12345", "粤B12345"),
        ("滬A12345", "沪A12345"),
        # New-energy plates: 8 characters.
        ("粵BD12345", "粤BD12345"),
        ("京AF12345", "京AF12345"),
        ("京A12345D", "京A12345D"),
        ("苏ED1234", "苏ED1234"),
    ],
)
def test_plates_get_one_canonical_spelling(typed: str, stored: str) -> None:
    assert normalise_plate(typed) == stored


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("", "no plate"),
        ("   ", "no plate"),
        ("ABCD-1234", "not a plate"),
        ("A-1234", "not a plate"),
        ("ABC-12345", "not a plate"),
        ("AB#1234", "characters a plate does not use"),
        ("東A12345", "province"),
        ("京112345", "letter must follow"),
        ("京A1234", "7, or 8"),
        ("京A123456789", "7, or 8"),
        ("京AO1234", "not I or O"),
        ("京A123456", "new-energy"),
    ],
)
def test_impossible_plates_are_refused_with_a_reason(typed: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        normalise_plate(typed)
