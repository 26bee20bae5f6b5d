"""The TD1 MRZ and the 12-digit ID number: the reference's worked example, check digits, decoding."""

from __future__ import annotations

from datetime import date

import pytest

from ocr.idnumber import PROVINCES, IdNumberError, century_sex_digit, decode_id_number
from ocr.mrz import MrzError, check_digit, compose_td1, name_field, strip_diacritics, td1_checks

WORKED_EXAMPLE = (
    "IDVNM0930012348045093001234<<5",
    "9308156M3308154VNM<<<<<<<<<<<8",
    "LE<<VAN<HUNG<<<<<<<<<<<<<<<<<<",
)


def test_worked_example_byte_for_byte() -> None:
    lines = compose_td1("045093001234", date(1993, 8, 15), "Nam", date(2033, 8, 15), "LÊ VĂN HÙNG")
    assert lines == WORKED_EXAMPLE
    assert all(len(line) == 30 for line in lines)
    assert all(td1_checks(lines).values())


@pytest.mark.parametrize(
    ("text", "digit"),
    [
        ("093001234", 8),
        ("045093001234", 5),
        ("930815", 6),
        ("330815", 4),
        ("L898902C3", 6),  # ICAO 9303 part 3's specimen document number
        ("740812", 2),
        ("<<<<", 0),
        ("A", 0),  # 10 x 7 = 70
        ("Z", 5),  # 35 x 7 = 245
    ],
)
def test_check_digit(text: str, digit: int) -> None:
    assert check_digit(text) == digit


def test_check_digit_refuses_lower_case() -> None:
    with pytest.raises(MrzError):
        check_digit("abc")


@pytest.mark.parametrize(
    ("line", "position", "replacement", "broken"),
    [
        (0, 10, "7", "document_number"),  # a digit of the 9-digit number
        (0, 20, "9", "id_number"),  # a digit of the 12-digit number only
        (1, 3, "9", "birth"),
        (1, 10, "1", "expiry"),
        (1, 29, "3", "composite"),
    ],
)
def test_a_corrupted_line_fails_its_check(line: int, position: int, replacement: str, broken: str) -> None:
    lines = list(WORKED_EXAMPLE)
    assert lines[line][position] != replacement
    lines[line] = lines[line][:position] + replacement + lines[line][position + 1 :]
    checks = td1_checks(lines)
    assert not checks[broken]
    assert not all(checks.values())


def test_no_expiry_and_female() -> None:
    line1, line2, line3 = compose_td1("001160000042", date(1960, 2, 29), "Nữ", None, "ĐẶNG THỊ NGỌC ÁNH")
    assert line2[7] == "F"
    assert line2[8:14] == "991231"
    assert line3 == "DANG<<THI<NGOC<ANH<<<<<<<<<<<<<"[:30]
    assert all(td1_checks((line1, line2, line3)).values())


def test_long_names_are_cut_to_thirty() -> None:
    field = name_field("NGUYỄN THỊ THANH THỦY TIÊN HOÀNG PHƯƠNG")
    assert len(field) == 30
    assert field.startswith("NGUYEN<<THI<THANH<THUY<TIEN<HO")


def test_strip_diacritics() -> None:
    assert strip_diacritics("Đặng Thị Ngọc Ánh") == "Dang Thi Ngoc Anh"
    assert strip_diacritics("NGUYỄN HỮU TUẤN") == "NGUYEN HUU TUAN"
    assert strip_diacritics("ĐỖ ĐỨC") == "DO DUC"


def test_compose_refuses_bad_input() -> None:
    with pytest.raises(MrzError):
        compose_td1("12345", date(1990, 1, 1), "Nam", None, "LE VAN A")
    with pytest.raises(MrzError):
        compose_td1("045093001234", date(1990, 1, 1), "M", None, "LE VAN A")


def test_sixty_three_provinces() -> None:
    assert len(PROVINCES) == 63
    assert PROVINCES["045"] == "Quảng Trị"
    assert all(len(code) == 3 and code.isdigit() for code in PROVINCES)


@pytest.mark.parametrize(
    ("year", "sex", "digit"),
    [(1993, "Nam", 0), (1999, "Nữ", 1), (2000, "Nam", 2), (2009, "Nữ", 3), (2100, "Nam", 4), (2150, "Nữ", 5)],
)
def test_century_sex_digit(year: int, sex: str, digit: int) -> None:
    assert century_sex_digit(year, sex) == digit


def test_decode_id_number() -> None:
    info = decode_id_number("045093001234")
    assert (info.province_code, info.province_name, info.sex, info.birth_year) == ("045", "Quảng Trị", "Nam", 1993)
    info = decode_id_number("079305123456")
    assert (info.province_name, info.sex, info.birth_year) == ("Hồ Chí Minh", "Nữ", 2005)
    assert decode_id_number("999093001234").province_name is None  # e.g. a birth registered abroad


@pytest.mark.parametrize("bad", ["04509300123", "0450930012345", "04509300123A", "", "０４５０９３００１２３４"])
def test_decode_refuses_malformed(bad: str) -> None:
    with pytest.raises(IdNumberError):
        decode_id_number(bad)
    assert issubclass(IdNumberError, ValueError)
