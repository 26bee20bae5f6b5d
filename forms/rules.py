"""The account request's fields and the seed's rules for them, with messages in Vietnamese for the officer."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date

from forms.phone import PhoneError, normalise_phone
from ocr.idnumber import IdNumberError, decode_id_number

FIELDS = ("id_number", "full_name", "date_of_birth", "phone", "email", "unit")

# The Law on Citizen Identification (2014, art. 19) makes a card compulsory from the age of 14; vn-id-cards.md
# says nothing about a minimum age, and since 1 July 2024 a Căn cước may also be issued to a younger child on
# request. The portal account is the card holder's own, with their own phone, so the counter keeps 14.
MIN_AGE = 14
MAX_AGE = 120
MAX_NAME_CHARS = 100  # the longest real names are about half of this; more is a paste gone wrong
MAX_EMAIL_CHARS = 254  # RFC 5321's limit on a forward path

_DATE = re.compile(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})")
# The ISO form is what the card reading and an <input type="date"> produce; it cannot be confused with dd/mm/yyyy.
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
# Deliberately ASCII: the portal and SMS gateways downstream do not take internationalised addresses.
_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)


class FormErrors(ValueError):
    """Every field of a form that failed its rule, as field name -> message for the officer."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {message}" for name, message in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class CitizenInfo:
    """The citizen's part of an account request, normalised and valid."""

    id_number: str
    full_name: str
    date_of_birth: date
    phone: str
    email: str | None
    unit_id: int


def format_date(d: date) -> str:
    """The date as dd/mm/yyyy, the way the seed's form and the cards write it."""
    return f"{d.day:02d}/{d.month:02d}/{d.year:04d}"


def mask_id_number(id_number: str) -> str:
    """The ID number with all but its last four digits hidden, for the audit trail and logs."""
    if len(id_number) <= 4:
        return "*" * len(id_number)
    return "*" * (len(id_number) - 4) + id_number[-4:]


def _id_number_error(text: str, today: date) -> tuple[str, str | None]:
    """The cleaned ID number and the reason it is refused, or None."""
    cleaned = re.sub(r"[\s.]", "", text)
    if not cleaned:
        return cleaned, "Số CMND/CCCD là bắt buộc"
    if not (cleaned.isascii() and cleaned.isdigit()):
        return cleaned, "Số CMND/CCCD chỉ được gồm chữ số"
    if len(cleaned) not in (9, 12):
        return cleaned, f"Số CMND/CCCD phải có 9 chữ số (CMND) hoặc 12 chữ số (CCCD), không phải {len(cleaned)}"
    if len(cleaned) == 12:
        try:
            info = decode_id_number(cleaned)
        except IdNumberError:
            return cleaned, "Số CCCD không đúng cấu trúc (mã tỉnh, chữ số thế kỷ và giới tính, năm sinh)"
        # decode_id_number reads any G digit as a century; one that puts the birth in the future is a typo.
        if info.birth_year > today.year:
            return cleaned, (
                f"Số CCCD không đúng cấu trúc: chữ số thế kỷ {cleaned[3]} và năm sinh {cleaned[4:6]} "
                f"cho năm sinh {info.birth_year}, chưa tới"
            )
    return cleaned, None


def validate_id_number(text: str, *, today: date | None = None) -> str:
    """The ID number without spaces or dots; FormErrors({"id_number": ...}) if it breaks the rule."""
    cleaned, error = _id_number_error(text, today or date.today())
    if error:
        raise FormErrors({"id_number": error})
    return cleaned


def _normalise_name(text: str) -> tuple[str, str | None]:
    """The name in NFC, single-spaced, upper case, and the reason it is refused, or None."""
    text = text.replace("\u2019", "'").replace("\u02bc", "'")  # the apostrophe as phones and Word type it
    # NFC again after upper(): a decomposed input may upper-case into a sequence that composes differently.
    name = unicodedata.normalize("NFC", " ".join(unicodedata.normalize("NFC", text).split()).upper())
    if not name:
        return name, "Họ và tên là bắt buộc"
    if len(name) > MAX_NAME_CHARS:
        return name, f"Họ và tên dài quá {MAX_NAME_CHARS} ký tự"
    for i, ch in enumerate(name):
        if ch == " " or _is_latin_letter(ch):
            continue
        # Ê Đê and other Central Highlands names carry an apostrophe inside a word (H'HEN NIÊ).
        if ch == "'" and 0 < i < len(name) - 1 and _is_latin_letter(name[i - 1]) and _is_latin_letter(name[i + 1]):
            continue
        return name, f"Họ và tên chỉ được gồm chữ cái và dấu cách, không có {ch!r}"
    return name, None


def _is_latin_letter(ch: str) -> bool:
    # Latin script only: a Cyrillic or Greek look-alike would not match the name in the national database.
    return unicodedata.category(ch).startswith("L") and unicodedata.name(ch, "").startswith("LATIN ")


def parse_day(text: str) -> date:
    """A date written dd/mm/yyyy (or d-m-yyyy, d.m.yyyy, yyyy-mm-dd); ValueError saying why it is not one."""
    raw = text.strip()
    if m := _DATE.fullmatch(raw):
        day, month, year = int(m[1]), int(m[2]), int(m[3])
    elif m := _ISO_DATE.fullmatch(raw):
        year, month, day = int(m[1]), int(m[2]), int(m[3])
    else:
        raise ValueError(f"phải theo dạng dd/mm/yyyy, không phải {raw!r}")
    try:
        return date(year, month, day)
    except ValueError:
        raise ValueError(f"không có thật: {day:02d}/{month:02d}/{year:04d}") from None


def _parse_date(text: str) -> tuple[date | None, str | None]:
    """The date of birth, and the reason it is refused, or None."""
    if not text.strip():
        return None, "Ngày sinh là bắt buộc"
    try:
        return parse_day(text), None
    except ValueError as error:
        return None, f"Ngày sinh {error}"


def _age(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _date_of_birth_error(born: date, today: date) -> str | None:
    if born > today:
        return f"Ngày sinh {format_date(born)} ở sau ngày hôm nay"
    age = _age(born, today)
    if age > MAX_AGE:
        return f"Ngày sinh {format_date(born)} không hợp lý: trên {MAX_AGE} tuổi"
    if age < MIN_AGE:
        return f"Công dân phải đủ {MIN_AGE} tuổi (ngày sinh {format_date(born)}: {age} tuổi)"
    return None


def _normalise_email(text: str) -> tuple[str | None, str | None]:
    """The address lower-cased, or None when not given, and the reason it is refused, or None."""
    raw = text.strip()
    if not raw:
        return None, None
    if len(raw) > MAX_EMAIL_CHARS:
        return None, f"Email dài quá {MAX_EMAIL_CHARS} ký tự"
    if not _EMAIL.fullmatch(raw):
        return None, f"Email không hợp lệ: {raw!r}"
    return raw.lower(), None


def _unit(text: str, unit_ids: Collection[int]) -> tuple[int | None, str | None]:
    raw = text.strip()
    if not raw:
        return None, "Đơn vị là bắt buộc: chọn Trung tâm phục vụ hành chính công hoặc Bộ phận một cửa"
    if not (raw.isascii() and raw.isdigit()):
        return None, f"Đơn vị không hợp lệ: {raw!r}"
    unit_id = int(raw)
    if unit_id not in unit_ids:
        return None, "Đơn vị không có trong danh sách"
    return unit_id, None


def validate_citizen(form: Mapping[str, str], *, unit_ids: Collection[int], today: date | None = None) -> CitizenInfo:
    """The citizen's information from the form, normalised; FormErrors naming every field that fails its rule."""
    today = today or date.today()
    errors: dict[str, str] = {}

    def field(name: str) -> str:
        value = form.get(name)
        return value if isinstance(value, str) else ""

    id_number, error = _id_number_error(field("id_number"), today)
    if error:
        errors["id_number"] = error

    full_name, error = _normalise_name(field("full_name"))
    if error:
        errors["full_name"] = error

    born, error = _parse_date(field("date_of_birth"))
    if born and not error:
        error = _date_of_birth_error(born, today)
    if born and not error and "id_number" not in errors and len(id_number) == 12:
        from_number = decode_id_number(id_number).birth_year
        if from_number != born.year:
            error = (
                f"Năm sinh {born.year} không khớp với số CCCD: chữ số thế kỷ {id_number[3]} và "
                f"năm sinh {id_number[4:6]} trong số cho năm {from_number}"
            )
    if error:
        errors["date_of_birth"] = error

    phone = ""
    if not field("phone").strip():
        errors["phone"] = "Số điện thoại là bắt buộc"
    else:
        try:
            phone = normalise_phone(field("phone"))
        except PhoneError as exc:
            errors["phone"] = str(exc)

    email, error = _normalise_email(field("email"))
    if error:
        errors["email"] = error

    unit_id, error = _unit(field("unit"), unit_ids)
    if error:
        errors["unit"] = error

    if errors:
        raise FormErrors(errors)
    assert born is not None and unit_id is not None  # no error means both were set
    return CitizenInfo(
        id_number=id_number,
        full_name=full_name,
        date_of_birth=born,
        phone=phone,
        email=email,
        unit_id=unit_id,
    )
