"""The machine-readable zone of Vietnamese chip cards (ICAO 9303 TD1): check digits and composition."""

from __future__ import annotations

import unicodedata
from datetime import date

TD1_LINE_LENGTH = 30
FILLER = "<"
NO_EXPIRY = "991231"  # (unsure) what a holder without expiry carries; see the card reference

_WEIGHTS = (7, 3, 1)
_SEX_CODES = {"Nam": "M", "Nữ": "F"}


class MrzError(ValueError):
    """An MRZ could not be composed from the values given."""


def _char_value(char: str) -> int:
    if char.isdigit() and char.isascii():
        return int(char)
    if char == FILLER:
        return 0
    if "A" <= char <= "Z":
        return ord(char) - ord("A") + 10
    raise MrzError(f"character {char!r} is not allowed in an MRZ")


def check_digit(s: str) -> int:
    """ICAO 9303 check digit: weights 7, 3, 1 repeating, sum modulo 10."""
    return sum(_char_value(char) * _WEIGHTS[i % 3] for i, char in enumerate(s)) % 10


def strip_diacritics(name: str) -> str:
    """Remove Vietnamese tone and vowel marks; Đ/đ become D/d (they do not decompose)."""
    decomposed = unicodedata.normalize("NFD", name.replace("Đ", "D").replace("đ", "d"))
    bare = "".join(char for char in decomposed if unicodedata.category(char) != "Mn")
    return unicodedata.normalize("NFC", bare)


def _yymmdd(value: date) -> str:
    return value.strftime("%y%m%d")


def _pad(text: str) -> str:
    return text[:TD1_LINE_LENGTH].ljust(TD1_LINE_LENGTH, FILLER)


def name_field(full_name: str) -> str:
    """Line 3 of a TD1 MRZ: SURNAME<<MIDDLE<GIVEN, bare capitals, padded or cut to 30."""
    words = strip_diacritics(unicodedata.normalize("NFC", full_name)).upper().split()
    if not words:
        raise MrzError("empty name")
    for word in words:
        if not all("A" <= char <= "Z" for char in word):
            raise MrzError(f"name word {word!r} has characters an MRZ cannot hold")
    surname, given_names = words[0], words[1:]
    return _pad(surname + FILLER * 2 + FILLER.join(given_names))


def compose_td1(
    id_number: str,
    date_of_birth: date,
    sex: str,
    date_of_expiry: date | None,
    full_name: str,
) -> tuple[str, str, str]:
    """The three 30-character lines a Vietnamese chip card prints for these values."""
    if len(id_number) != 12 or not (id_number.isdigit() and id_number.isascii()):
        raise MrzError(f"ID number {id_number!r} is not 12 digits")
    if sex not in _SEX_CODES:
        raise MrzError(f"sex {sex!r} is neither 'Nam' nor 'Nữ'")
    document_number = id_number[-9:]
    line1 = (
        "IDVNM"
        + document_number
        + str(check_digit(document_number))
        + id_number
        + FILLER * 2
        + str(check_digit(id_number))
    )
    birth = _yymmdd(date_of_birth)
    expiry = NO_EXPIRY if date_of_expiry is None else _yymmdd(date_of_expiry)
    line2 = birth + str(check_digit(birth)) + _SEX_CODES[sex] + expiry + str(check_digit(expiry)) + "VNM" + FILLER * 11
    composite = line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29]
    line2 += str(check_digit(composite))
    line3 = name_field(full_name)
    assert len(line1) == len(line2) == TD1_LINE_LENGTH
    return line1, line2, line3


def td1_checks(lines: tuple[str, str, str] | list[str]) -> dict[str, bool]:
    """Which of a TD1 MRZ's check digits hold (document number, ID, birth, expiry, composite)."""
    line1, line2 = lines[0], lines[1]
    if len(line1) != TD1_LINE_LENGTH or len(line2) != TD1_LINE_LENGTH:
        return {
            "document_number": False,
            "id_number": False,
            "birth": False,
            "expiry": False,
            "composite": False,
        }

    def holds(field: str, digit: str) -> bool:
        try:
            return digit.isdigit() and check_digit(field) == int(digit)
        except MrzError:
            return False

    return {
        "document_number": holds(line1[5:14], line1[14]),
        "id_number": holds(line1[15:27], line1[29]),
        "birth": holds(line2[0:6], line2[6]),
        "expiry": holds(line2[8:14], line2[14]),
        "composite": holds(line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29], line2[29]),
    }
