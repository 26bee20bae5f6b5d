"""Vietnamese mobile numbers: normalised to the national 10-digit form, old 11-digit numbers converted, masked."""

from __future__ import annotations

import re

import phonenumbers

# What an officer may type around the digits; letters are refused here because phonenumbers would
# silently turn them into keypad digits ("vanity" numbers), which is never what a citizen means.
_ALLOWED = re.compile(r"\+?[0-9\s.\-()]+")
_MAX_DIGITS = 15  # E.164's ceiling; anything longer is not a phone number of any country

# The 2018-19 conversion of 11-digit mobile numbers, keyed by the national significant number's first
# three digits (without the trunk 0): "16x" became "3x", and so on (vn-id-cards.md, "Mobile phone numbers").
# Citizens still give their old number from memory or from old papers, so it is converted, not refused.
OLD_PREFIXES: dict[str, str] = {
    **{f"16{d}": f"3{d}" for d in "23456789"},
    "120": "70",
    "121": "79",
    "122": "77",
    "126": "76",
    "128": "78",
    "123": "83",
    "124": "84",
    "125": "85",
    "127": "81",
    "129": "82",
    "186": "56",
    "188": "58",
    "199": "59",
}

_MOBILE_TYPES = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


class PhoneError(ValueError):
    """A phone number that is not a valid Vietnamese mobile number; the message is for the officer."""


def _national_significant(digits: str, has_plus: bool) -> str:
    """The digits after the country code or trunk 0, however the number was written."""
    if has_plus:
        if not digits.startswith("84"):
            raise PhoneError("Số điện thoại phải là số di động Việt Nam (mã quốc gia +84)")
        nsn = digits[2:]
        # "+84 0912..." is a common way of writing it: the trunk 0 does not belong after the country code.
        return nsn[1:] if nsn.startswith("0") else nsn
    if digits.startswith("0084"):
        return digits[4:]
    # "84" + 9 digits (new) or + 10 digits (old 11-digit number) is the country code without the "+";
    # a national number never starts with 84 without its trunk 0 at those lengths.
    if digits.startswith("84") and len(digits) in (11, 12):
        return digits[2:]
    if digits.startswith("0"):
        return digits[1:]
    return digits


def normalise_phone(text: str) -> str:
    """The national form "0xxxxxxxxx" of a Vietnamese mobile number; PhoneError if it is not one."""
    raw = text.strip()
    if not raw:
        raise PhoneError("Số điện thoại không hợp lệ: chưa nhập số")
    if not _ALLOWED.fullmatch(raw):
        raise PhoneError(
            f"Số điện thoại không hợp lệ: {raw!r} chỉ được gồm chữ số (có thể có +84, dấu cách, chấm, gạch)"
        )
    digits = re.sub(r"[^0-9]", "", raw)
    if not digits:
        raise PhoneError(f"Số điện thoại không hợp lệ: {raw!r} không có chữ số nào")
    if len(digits) > _MAX_DIGITS:
        raise PhoneError(f"Số điện thoại không hợp lệ: {raw!r} quá dài")
    nsn = _national_significant(digits, raw.startswith("+"))
    if len(nsn) == 10 and nsn[:3] in OLD_PREFIXES:
        nsn = OLD_PREFIXES[nsn[:3]] + nsn[3:]
    try:
        number = phonenumbers.parse("0" + nsn, "VN")
    except phonenumbers.NumberParseException as exc:
        raise PhoneError(f"Số điện thoại không hợp lệ: {raw!r}") from exc
    if not phonenumbers.is_valid_number_for_region(number, "VN"):
        if len(nsn) != 9:
            raise PhoneError(f"Số điện thoại không hợp lệ: {raw!r} phải có 10 chữ số, dạng 0xxxxxxxxx")
        raise PhoneError(f"Số điện thoại không hợp lệ: {raw!r} không thuộc đầu số nào của Việt Nam")
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        raise PhoneError(f"Số điện thoại phải là số di động Việt Nam: {raw!r} là số cố định hoặc số dịch vụ")
    return f"0{number.national_number}"


def mask_phone(phone: str) -> str:
    """The number with all but its first two and last two digits hidden, for logs: "09******67"."""
    if len(phone) <= 4:
        return "*" * len(phone)
    return phone[:2] + "*" * (len(phone) - 4) + phone[-2:]
