"""Dates as ID cards print them and OCR reads them: numeric, written out in Vietnamese, two-digit MRZ years."""

from __future__ import annotations

import re
import unicodedata
from datetime import date

# The oldest birth year a living card holder can plausibly have; the ID number's century digit starts at 1900.
EARLIEST_BIRTH_YEAR = 1900
OLDEST_AGE = 120

# Tesseract's usual confusions of digits with letters and strokes on printed dates; only ever applied inside a
# date's shape (day, month and year between separators), never to free text.
_DIGIT_LOOKALIKES = str.maketrans({"O": "0", "o": "0", "l": "1", "I": "1", "|": "1", "S": "5", "B": "8"})
_DIGITISH = "0-9OolI|SB"
_SEPARATOR = r"\s*[/\-.]\s*"
_DAY_MONTH = rf"[{_DIGITISH}](?:\s?[{_DIGITISH}])?"
# A numeric date anywhere in a line: day and month of one or two digits, a year of two to four (two are refused).
_NUMERIC = re.compile(
    rf"(?<![0-9A-Za-z])(?P<day>{_DAY_MONTH}){_SEPARATOR}(?P<month>{_DAY_MONTH}){_SEPARATOR}"
    rf"(?P<year>[{_DIGITISH}](?:\s?[{_DIGITISH}]){{1,3}})(?![0-9])"
)
# The back side's issue date, "Ngày 11 tháng 10 năm 2006", matched on text folded to no diacritics (case kept, so
# that a lookalike letter in a number still reads as its digit); the words in any case, spaces optional.
_WRITTEN = re.compile(
    rf"(?i:ngay)\s*(?P<day>[{_DIGITISH}]{{1,2}})\s*,?\s*(?i:thang)\s*(?P<month>[{_DIGITISH}]{{1,2}})\s*,?\s*"
    rf"(?i:nam)\s*(?P<year>[{_DIGITISH}]{{2,4}})(?![0-9])"
)


class DateError(ValueError):
    """The text is not a date the card could print."""


def _fold(text: str) -> str:
    """Without diacritics, one character per input character (so spans in the folded text hold in the original)."""
    return "".join(
        "D" if char == "Đ" else "d" if char == "đ" else unicodedata.normalize("NFD", char)[:1] for char in text
    )


def _number(text: str) -> int:
    digits = re.sub(r"\s", "", text).translate(_DIGIT_LOOKALIKES)
    if not re.fullmatch(r"[0-9]+", digits):
        raise DateError(f"{text!r} is not a number")
    return int(digits)


def _make(day_text: str, month_text: str, year_text: str) -> date:
    year_digits = re.sub(r"\s", "", year_text)
    if len(year_digits) != 4:
        # A two-digit year is ambiguous across centuries; a card prints four, so a shorter one is a misread.
        raise DateError(f"the year {year_text!r} does not have four digits")
    day, month, year = _number(day_text), _number(month_text), _number(year_text)
    try:
        return date(year, month, day)
    except ValueError as error:
        raise DateError(f"{day:02d}/{month:02d}/{year:04d} is not a date") from error


def parse_date(text: str) -> date:
    """A date from `DD/MM/YYYY`, `DD-MM-YYYY`, `DD.MM.YYYY` or `Ngày DD tháng MM năm YYYY`; DateError otherwise."""
    if not isinstance(text, str):
        raise DateError("the date is not text")
    stripped = unicodedata.normalize("NFC", text).strip()
    written = _WRITTEN.fullmatch(_fold(stripped).strip(" .,"))
    if written:
        return _make(written["day"], written["month"], written["year"])
    numeric = _NUMERIC.fullmatch(stripped)
    if numeric:
        return _make(numeric["day"], numeric["month"], numeric["year"])
    raise DateError(f"{text!r} is not a date")


def find_date(text: str) -> tuple[date, tuple[int, int]] | None:
    """The first valid date in a line of OCR text and its (start, end) span, or None.

    Lookalike letters count as digits only inside a date's shape, and a candidate needs most of its characters
    to be real digits: `IO/OS/2OI8` is not taken for a date, `1O/05/2018` is.
    """
    if not isinstance(text, str):
        return None
    candidates: list[tuple[int, int, re.Match[str]]] = []
    for match in _WRITTEN.finditer(_fold(text)):
        candidates.append((match.start(), match.end(), match))
    for match in _NUMERIC.finditer(text):
        candidates.append((match.start(), match.end(), match))
    for start, end, match in sorted(candidates, key=lambda item: item[0]):
        groups = match["day"] + match["month"] + match["year"]
        real = sum("0" <= char <= "9" for char in groups)
        if real * 2 < len(re.sub(r"\s", "", groups)):
            continue
        try:
            return _make(match["day"], match["month"], match["year"]), (start, end)
        except DateError:
            continue
    return None


def century_of(century_digit: int) -> int:
    """The first year of the century an ID number's sex-and-century digit G names (0/1 → 1900, 2/3 → 2000)."""
    if not 0 <= century_digit <= 9:
        raise DateError(f"{century_digit} is not a century digit")
    return EARLIEST_BIRTH_YEAR + (century_digit // 2) * 100


def from_yymmdd(text: str, *, century: int | None = None, today: date | None = None) -> date:
    """A `YYMMDD` date (as the MRZ prints it) in the given century, else in the latest century not in the future."""
    if not re.fullmatch(r"[0-9]{6}", text):
        raise DateError(f"{text!r} is not YYMMDD")
    yy, month, day = int(text[:2]), int(text[2:4]), int(text[4:])
    try:
        if century is not None:
            return date(century + yy, month, day)
        today = today or date.today()
        found = date(today.year // 100 * 100 + yy, month, day)
        return found if found <= today else date(today.year // 100 * 100 - 100 + yy, month, day)
    except ValueError as error:
        raise DateError(f"{text!r} is not a date") from error


def age_on(born: date, day: date) -> int:
    """Whole years from birth to a day."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def plausible_birth(d: date, today: date | None = None) -> bool:
    """Whether a date can be a living card holder's birth date: not in the future, not before 1900, age ≤ 120."""
    today = today or date.today()
    return d.year >= EARLIEST_BIRTH_YEAR and d <= today and age_on(d, today) <= OLDEST_AGE


def plausible_issue(d: date, today: date | None = None, born: date | None = None) -> bool:
    """Whether a date can be a card's issue date: not in the future, after 1975, and at or after birth."""
    today = today or date.today()
    return date(1975, 1, 1) <= d <= today and (born is None or d >= born)


def plausible_expiry(d: date, issued: date | None = None, born: date | None = None) -> bool:
    """Whether a date can be a card's expiry: after issue and birth, and no later than the 60th birthday.

    Cards are renewed at 25, 40 and 60 and expire on the birthday of the next of those ages; from 60 on a card
    has no expiry at all (vn-id-cards.md).
    """
    if issued is not None and d <= issued:
        return False
    if born is not None and (d <= born or age_on(born, d) > 60):
        return False
    return 1990 <= d.year <= 2200
