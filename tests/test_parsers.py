"""The text parsers never raise anything but their own error, whatever OCR or a QR code hands them."""

from __future__ import annotations

import contextlib
import unicodedata
from datetime import date

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ocr.dates import DateError, find_date, parse_date, plausible_birth
from ocr.idnumber import PROVINCES, IdNumberError, decode_id_number
from ocr.mrz import MrzData, MrzError, compose_td1, parse_td1
from ocr.qr import QrPayloadError, parse_qr_payload

FAST = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

MRZ_CHARS = st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<<<<<<< ")
SYLLABLES = ("NGUYỄN", "TRẦN", "LÊ", "ĐẶNG", "VĂN", "THỊ", "HÙNG", "ANH", "KHOA", "QUỲNH", "NGỌC", "HOÀNG", "Y")


@st.composite
def people(draw: st.DrawFn) -> tuple[str, date, str, date | None, str]:
    """What compose_td1 takes: a well-formed ID whose century digit agrees with the birth year."""
    born = draw(st.dates(min_value=date(1920, 1, 1), max_value=date(2019, 12, 31)))
    sex = draw(st.sampled_from(["Nam", "Nữ"]))
    century_digit = (born.year // 100 - 19) * 2 + (1 if sex == "Nữ" else 0)
    province = draw(st.sampled_from(sorted(PROVINCES)))
    serial = draw(st.integers(0, 999_999))
    id_number = f"{province}{century_digit}{born.year % 100:02d}{serial:06d}"
    expiry = draw(st.none() | st.dates(min_value=date(2025, 1, 1), max_value=date(2079, 12, 31)))
    name = " ".join(draw(st.lists(st.sampled_from(SYLLABLES), min_size=2, max_size=5)))
    return id_number, born, sex, expiry, name


@st.composite
def garbled_mrz(draw: st.DrawFn) -> list[str]:
    """A real MRZ as OCR might return it: characters dropped, inserted, replaced, fillers read as K, lines shuffled."""
    lines = list(compose_td1(*draw(people())))
    for _ in range(draw(st.integers(0, 6))):
        index = draw(st.integers(0, 2))
        line = lines[index]
        position = draw(st.integers(0, max(0, len(line) - 1)))
        action = draw(st.sampled_from(["drop", "insert", "replace", "filler"]))
        char = draw(MRZ_CHARS)
        if action == "drop":
            line = line[:position] + line[position + 1 :]
        elif action == "insert":
            line = line[:position] + char + line[position:]
        elif action == "replace":
            line = line[:position] + char + line[position + 1 :]
        else:
            line = line.replace("<<", "<K<", 1)
        lines[index] = line
    return draw(st.permutations(lines))


def _parse_or_mrz_error(
    lines: list[str], century_hint: int | None = None, name_shape: str | None = None
) -> MrzData | None:
    try:
        return parse_td1(lines, century_hint=century_hint, name_shape=name_shape)
    except MrzError:
        return None


# --- parse_td1 -----------------------------------------------------------------------------------------------


@FAST
@given(st.lists(st.text(), max_size=5))
def test_parse_td1_on_any_text(lines: list[str]) -> None:
    _parse_or_mrz_error(lines)


@FAST
@given(st.lists(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<K \n", max_size=45), max_size=4))
@example(["IDVNM", "", "<"])
@example(["IDVNM" + "0" * 40, "0" * 40 + "VNM", "A<" * 30])
def test_parse_td1_on_mrz_like_text(lines: list[str]) -> None:
    data = _parse_or_mrz_error(lines)
    if data is not None:
        assert all(len(line) == 30 for line in data.lines)
        assert set(data.checks) == {"document_number", "id_number", "birth", "expiry", "composite"} | {
            "document_matches_id"
        }


@FAST
@given(people())
def test_parse_td1_reads_back_what_compose_td1_wrote(person: tuple[str, date, str, date | None, str]) -> None:
    id_number, born, sex, expiry, name = person
    lines = compose_td1(id_number, born, sex, expiry, name)
    data = parse_td1(lines)
    assert data.verified and data.repairs == []
    assert data.lines == lines
    assert (data.id_number, data.date_of_birth, data.sex, data.date_of_expiry) == (id_number, born, sex, expiry)
    shape = "".join("<" if char == "<" else "A" for char in lines[2])
    assert parse_td1(lines, name_shape=shape).name_words == data.name_words


@FAST
@given(garbled_mrz(), st.none() | st.integers(-3, 12), st.none() | st.text(alphabet="<A?", max_size=31))
def test_parse_td1_on_garbled_mrz(lines: list[str], century_hint: int | None, shape: str | None) -> None:
    data = _parse_or_mrz_error(lines, century_hint=century_hint, name_shape=shape)
    if data is not None and data.verified:
        # When every check holds, the numbers are digits and agree with each other.
        assert data.id_number.isdigit() and len(data.id_number) == 12
        assert data.document_number == data.id_number[3:]


# --- parse_qr_payload ----------------------------------------------------------------------------------------


@FAST
@given(st.text())
def test_parse_qr_payload_on_any_text(text: str) -> None:
    with contextlib.suppress(QrPayloadError):
        parse_qr_payload(text)


QR_FIELDS = st.lists(
    st.one_of(st.text(max_size=20), st.from_regex(r"\A[0-9]{8,12}\Z"), st.sampled_from(["", "Nam", "Nữ"])),
    min_size=0,
    max_size=10,
)


@FAST
@given(QR_FIELDS)
def test_parse_qr_payload_on_pipe_separated_fields(fields: list[str]) -> None:
    try:
        data = parse_qr_payload("|".join(fields))
    except QrPayloadError:
        return
    assert len(data.id_number) == 12


GOOD_QR = "045093001234|197644312|LÊ VĂN HÙNG|15081993|Nam|Thôn Xuân Lộc, Xã Triệu Nguyên, Huyện Đakrông|24122023"


def test_qr_payload_worked_example() -> None:
    data = parse_qr_payload(GOOD_QR)
    assert data.id_number == "045093001234"
    assert data.old_id_number == "197644312"
    assert data.full_name == "LÊ VĂN HÙNG"
    assert data.date_of_birth == date(1993, 8, 15)
    assert data.sex == "Nam"
    assert data.date_of_issue == date(2023, 12, 24)
    assert data.extra == ()


def test_qr_payload_empty_old_id() -> None:
    data = parse_qr_payload("045093001234||LÊ VĂN HÙNG|15081993|Nam|Quảng Trị|24122023")
    assert data.old_id_number is None
    assert data.full_name == "LÊ VĂN HÙNG"


def test_qr_payload_keeps_extra_trailing_fields() -> None:
    data = parse_qr_payload(GOOD_QR + "|079305123456|NGUYỄN VĂN A")
    assert data.extra == ("079305123456", "NGUYỄN VĂN A")
    assert data.date_of_issue == date(2023, 12, 24)


def test_qr_payload_title_case_name_normalised_to_upper_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "Lê Văn Hùng")
    data = parse_qr_payload(f"045093001234||{decomposed}|15081993|Nam|Quảng Trị|24122023")
    assert data.full_name == "LÊ VĂN HÙNG"
    assert unicodedata.is_normalized("NFC", data.full_name)


def test_qr_payload_with_six_fields_is_refused() -> None:
    with pytest.raises(QrPayloadError):
        parse_qr_payload("045093001234||LÊ VĂN HÙNG|15081993|Nam|Quảng Trị")


@pytest.mark.parametrize("id_number", ["04509300123A", "04509300123", "0450930012345", "", "045 93001234"])
def test_qr_payload_with_a_non_digit_id_is_refused(id_number: str) -> None:
    with pytest.raises(QrPayloadError):
        parse_qr_payload(f"{id_number}||LÊ VĂN HÙNG|15081993|Nam|Quảng Trị|24122023")


# --- dates ---------------------------------------------------------------------------------------------------


@FAST
@given(st.text())
@example("٠١/٠٢/٢٠٠٠")  # Arabic-Indic digits: \d would take them, a card never prints them
@example("Ngày 31 tháng 02 năm 2000")
@example("00/00/0000")
def test_parse_date_on_any_text(text: str) -> None:
    with contextlib.suppress(DateError):
        parse_date(text)


@FAST
@given(st.text())
def test_find_date_on_any_text(text: str) -> None:
    found = find_date(text)
    if found is not None:
        day, (start, end) = found
        assert 0 <= start < end <= len(text)
        assert parse_date(text[start:end]) == day


DATE_SEPARATORS = st.sampled_from(["/", "-", ".", " / ", "- "])


@FAST
@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31)), DATE_SEPARATORS, st.text(max_size=8))
def test_dates_as_printed_are_found(day: date, separator: str, before: str) -> None:
    text = f"{day.day:02d}{separator}{day.month:02d}{separator}{day.year}"
    assert parse_date(text) == day
    line = f"Ngày sinh: {text} "
    found = find_date(line)
    assert found is not None and found[0] == day


@FAST
@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31)), st.booleans(), st.booleans())
def test_written_out_dates(day: date, folded: bool, spaced: bool) -> None:
    words = ("Ngay", "thang", "nam") if folded else ("Ngày", "tháng", "năm")
    gap = " " if spaced else ""
    text = f"{words[0]}{gap}{day.day}{gap}{words[1]}{gap}{day.month}{gap}{words[2]}{gap}{day.year}"
    assert parse_date(text) == day
    assert parse_date(text.upper()) == day


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15/08/1993", date(1993, 8, 15)),
        ("15-08-1993", date(1993, 8, 15)),
        ("15.08.1993", date(1993, 8, 15)),
        (" 15 / 08 / 1993 ", date(1993, 8, 15)),
        ("l5/O8/I99З".replace("З", "3"), date(1993, 8, 15)),  # lookalikes of 1, 0 and 1
        ("1S/08/1993", date(1993, 8, 15)),
        ("15/0B/1993", date(1993, 8, 15)),
        ("|5/08/1993", date(1993, 8, 15)),
        ("Ngày 11 tháng 10 năm 2006", date(2006, 10, 11)),
        ("NGÀY 11 THÁNG 10 NĂM 2006", date(2006, 10, 11)),
        ("ngay11thang10nam2006", date(2006, 10, 11)),
        ("Ngày 1l tháng 1O năm 2OO6", date(2006, 10, 11)),
    ],
)
def test_parse_date_examples(text: str, expected: date) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["15/08/93", "31/02/2000", "15/13/1993", "", "1993-08-15x", "Ngày tháng năm"])
def test_parse_date_refuses(text: str) -> None:
    with pytest.raises(DateError):
        parse_date(text)


def test_find_date_examples() -> None:
    assert find_date("Ngày sinh/Date of birth: 15/08/1993") == (date(1993, 8, 15), (25, 35))
    assert find_date("Có giá trị đến: 2O/07/2031 x") == (date(2031, 7, 20), (16, 26))
    assert find_date("Ngày 11 tháng 10 năm 2006 GIÁM ĐỐC") == (date(2006, 10, 11), (0, 25))
    assert find_date("no date 12/13/2000 here, but 01.02.2003") == (date(2003, 2, 1), (29, 39))
    assert find_date("IO/OS/2OI8") is None  # mostly letters: not taken for a date
    assert find_date("") is None


def test_plausible_birth() -> None:
    today = date(2025, 6, 1)
    assert plausible_birth(date(1993, 8, 15), today)
    assert not plausible_birth(date(2025, 6, 2), today)
    assert not plausible_birth(date(1899, 12, 31), today)
    assert not plausible_birth(date(1904, 1, 1), today)  # 121 years old


# --- decode_id_number ----------------------------------------------------------------------------------------


@FAST
@given(st.text() | st.from_regex(r"\A[0-9]{12}\Z") | st.text(alphabet="0123456789٠١٢３", min_size=12, max_size=12))
def test_decode_id_number_on_any_text(text: str) -> None:
    try:
        info = decode_id_number(text)
    except IdNumberError:
        return
    assert 1900 <= info.birth_year <= 2399
    assert info.sex in ("Nam", "Nữ")


def test_qr_payload_with_non_ascii_digits_is_refused() -> None:
    with pytest.raises(QrPayloadError):
        parse_qr_payload("٠٤٥٠٩٣٠٠١٢٣٤||LÊ VĂN HÙNG|15081993|Nam|Quảng Trị|24122023")
