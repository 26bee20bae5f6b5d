"""The account request's rules: phone numbers, citizen fields, and the attachment checked by content."""

from __future__ import annotations

import io
import struct
import zipfile
from datetime import date

import pymupdf
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forms.attachment import CONTENT_TYPES, MAX_ATTACHMENT_BYTES, AttachmentError, sniff_attachment
from forms.phone import OLD_PREFIXES, PhoneError, mask_phone, normalise_phone
from forms.rules import (
    FIELDS,
    CitizenInfo,
    FormErrors,
    format_date,
    mask_id_number,
    validate_citizen,
    validate_id_number,
)
from ocr.idnumber import century_sex_digit

TODAY = date(2025, 6, 15)
UNITS = {1, 7}

# One number per prefix that vn-id-cards.md lists for each operator.
OPERATOR_PREFIXES = {
    "Viettel": ["032", "033", "034", "035", "036", "037", "038", "039", "086", "096", "097", "098"],
    "VinaPhone": ["081", "082", "083", "084", "085", "088", "091", "094"],
    "MobiFone": ["070", "076", "077", "078", "079", "089", "090", "093"],
    "Vietnamobile": ["052", "056", "058", "092"],
    "Gmobile": ["059", "099"],
    "iTel": ["087"],
}


def _id_number(year: int, sex: str, province: str = "045", serial: str = "001234") -> str:
    return f"{province}{century_sex_digit(year, sex)}{year % 100:02d}{serial}"


def _form(**changes: str) -> dict[str, str]:
    form = {
        "id_number": _id_number(1993, "Nữ"),
        "full_name": "Nguyễn Thị Hương",
        "date_of_birth": "15/08/1993",
        "phone": "0912 345 678",
        "email": "",
        "unit": "7",
    }
    form.update(changes)
    return form


# ---- phone numbers -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prefix", [p for prefixes in OPERATOR_PREFIXES.values() for p in prefixes], ids=lambda p: str(p)
)
def test_every_operator_prefix_is_a_mobile_number(prefix: str) -> None:
    # The 4th digit 8 falls inside the blocks phonenumbers knows for the partly allocated 052, 089 and 099.
    number = f"{prefix}8123456"
    assert normalise_phone(number) == number


@pytest.mark.parametrize(
    "written",
    [
        "0912345678",
        "0912 345 678",
        "0912.345.678",
        "0912-345-678",
        "(091) 234-5678",
        "+84912345678",
        "+84 912 345 678",
        "+84 (0) 912 345 678",
        "+84-91-234-5678",
        "84912345678",
        "84 912 345 678",
        "0084 912 345 678",
        "  0912345678\t",
    ],
)
def test_ways_of_writing_a_number_give_one_national_form(written: str) -> None:
    assert normalise_phone(written) == "0912345678"


@pytest.mark.parametrize(("old", "new"), sorted(OLD_PREFIXES.items()))
def test_old_eleven_digit_numbers_are_converted(old: str, new: str) -> None:
    assert normalise_phone(f"0{old}1234567") == f"0{new}1234567"
    assert normalise_phone(f"+84 {old} 123 4567") == f"0{new}1234567"
    assert normalise_phone(f"84{old}1234567") == f"0{new}1234567"


def test_the_published_conversion_table_is_complete() -> None:
    # 0162-0169 -> 032-039, ten 012x prefixes, 0186, 0188 and 0199: as in vn-id-cards.md, no more.
    assert len(OLD_PREFIXES) == 8 + 10 + 3
    assert OLD_PREFIXES["162"] == "32" and OLD_PREFIXES["169"] == "39"
    assert normalise_phone("0168 888 9999") == "0388889999"


@pytest.mark.parametrize("fixed_line", ["0233 3852 123", "024 3825 1234", "+84 28 3829 5555", "1800 1090"])
def test_fixed_lines_and_service_numbers_are_refused(fixed_line: str) -> None:
    with pytest.raises(PhoneError, match="di động Việt Nam"):
        normalise_phone(fixed_line)


@pytest.mark.parametrize(
    ("garbage", "message"),
    [
        ("", "chưa nhập"),
        ("   ", "chưa nhập"),
        ("abc", "chỉ được gồm chữ số"),
        ("09l2345678", "chỉ được gồm chữ số"),
        ("0912-CALL-ME", "chỉ được gồm chữ số"),
        ("---", "không có chữ số"),
        ("091234567", "10 chữ số"),
        ("09123456789", "10 chữ số"),
        ("12345", "10 chữ số"),
        ("0912345678901234567", "quá dài"),
        ("０９１２３４５６７８", "chỉ được gồm chữ số"),  # full-width digits are not what the gateway sends to
    ],
)
def test_garbage_is_refused_with_a_message(garbage: str, message: str) -> None:
    with pytest.raises(PhoneError, match="Số điện thoại không hợp lệ") as caught:
        normalise_phone(garbage)
    assert message in str(caught.value)


def test_a_foreign_number_is_refused() -> None:
    with pytest.raises(PhoneError, match="phải là số di động Việt Nam"):
        normalise_phone("+1 415 555 2671")


def test_masked_phone_keeps_only_the_ends() -> None:
    assert mask_phone("0912345667") == "09******67"
    assert mask_phone("091") == "***"


# ---- the citizen's fields ------------------------------------------------------------------------------------


def test_a_good_form_gives_normalised_information() -> None:
    info = validate_citizen(
        _form(email=" Huong.Nguyen@Gmail.COM ", phone="+84 168 123 4567"), unit_ids=UNITS, today=TODAY
    )
    assert info == CitizenInfo(
        id_number="045193001234",
        full_name="NGUYỄN THỊ HƯƠNG",
        date_of_birth=date(1993, 8, 15),
        phone="0381234567",
        email="huong.nguyen@gmail.com",
        unit_id=7,
    )


def test_an_empty_form_reports_every_required_field_at_once() -> None:
    with pytest.raises(FormErrors) as caught:
        validate_citizen({}, unit_ids=UNITS, today=TODAY)
    errors = caught.value.errors
    assert set(errors) == {"id_number", "full_name", "date_of_birth", "phone", "unit"}
    assert errors["id_number"] == "Số CMND/CCCD là bắt buộc"
    assert errors["full_name"] == "Họ và tên là bắt buộc"
    assert errors["date_of_birth"] == "Ngày sinh là bắt buộc"
    assert errors["phone"] == "Số điện thoại là bắt buộc"
    assert errors["unit"].startswith("Đơn vị là bắt buộc")


def test_several_wrong_fields_are_all_reported() -> None:
    form = _form(full_name="Nguyễn V4n A", phone="024 3825 1234", email="huong@gmail", unit="3")
    with pytest.raises(FormErrors) as caught:
        validate_citizen(form, unit_ids=UNITS, today=TODAY)
    assert set(caught.value.errors) == {"full_name", "phone", "email", "unit"}
    assert "Họ và tên" in str(caught.value) and "email" in str(caught.value)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("id_number", "04519300123A", "chỉ được gồm chữ số"),
        ("id_number", "0451930012", "9 chữ số (CMND) hoặc 12 chữ số (CCCD), không phải 10"),
        ("id_number", "0451930012345", "không phải 13"),
        ("full_name", "   ", "Họ và tên là bắt buộc"),
        ("full_name", "Nguyễn Văn 2", "chỉ được gồm chữ cái"),
        ("full_name", "Nguyễn-Văn A", "chỉ được gồm chữ cái"),
        ("full_name", "НГУЕН ВАН А", "chỉ được gồm chữ cái"),  # Cyrillic look-alikes
        ("full_name", "A" * 101, "dài quá 100"),
        ("date_of_birth", "1993/08/15", "dd/mm/yyyy"),
        ("date_of_birth", "15/08/93", "dd/mm/yyyy"),
        ("date_of_birth", "mười lăm tháng tám", "dd/mm/yyyy"),
        ("date_of_birth", "31/02/1993", "không có thật: 31/02/1993"),
        ("date_of_birth", "16/06/2025", "sau ngày hôm nay"),
        ("date_of_birth", "14/06/1904", "trên 120 tuổi"),
        ("phone", "0233 3852 123", "phải là số di động Việt Nam"),
        ("phone", "09123", "Số điện thoại không hợp lệ"),
        ("email", "huong@gmail", "Email không hợp lệ"),
        ("email", "huong gmail.com", "Email không hợp lệ"),
        ("email", "huong@@gmail.com", "Email không hợp lệ"),
        ("email", "huong nguyen@gmail.com", "Email không hợp lệ"),
        ("email", "huong@gmail..com", "Email không hợp lệ"),
        ("email", "a" * 245 + "@gmail.com", "dài quá 254"),
        ("unit", "abc", "Đơn vị không hợp lệ"),
        ("unit", "-1", "Đơn vị không hợp lệ"),
        ("unit", "3", "không có trong danh sách"),
    ],
)
def test_each_field_has_its_message(field: str, value: str, message: str) -> None:
    form = _form(**{field: value})
    if field == "date_of_birth":
        form["id_number"] = "123456789"  # a CMND carries no birth year to disagree with
    with pytest.raises(FormErrors) as caught:
        validate_citizen(form, unit_ids=UNITS, today=TODAY)
    assert set(caught.value.errors) == {field}
    assert message in caught.value.errors[field]


def test_a_citizen_under_fourteen_is_refused_and_fourteen_today_is_accepted() -> None:
    form = _form(id_number="123456789", date_of_birth="16/06/2011")
    with pytest.raises(FormErrors) as caught:
        validate_citizen(form, unit_ids=UNITS, today=TODAY)
    assert caught.value.errors == {"date_of_birth": "Công dân phải đủ 14 tuổi (ngày sinh 16/06/2011: 13 tuổi)"}
    form["date_of_birth"] = "15/06/2011"
    assert validate_citizen(form, unit_ids=UNITS, today=TODAY).date_of_birth == date(2011, 6, 15)


@pytest.mark.parametrize(
    "written", ["15/08/1993", "15/8/1993", "15-08-1993", "15.8.1993", "1993-08-15", " 15/08/1993 "]
)
def test_dates_are_read_in_the_ways_officers_type_them(written: str) -> None:
    info = validate_citizen(_form(date_of_birth=written), unit_ids=UNITS, today=TODAY)
    assert info.date_of_birth == date(1993, 8, 15)


def test_a_nine_digit_cmnd_is_accepted_with_spaces_and_dots() -> None:
    assert validate_citizen(_form(id_number="197 123.456"), unit_ids=UNITS, today=TODAY).id_number == "197123456"


def test_a_twelve_digit_number_with_an_impossible_century_digit_is_refused() -> None:
    valid = _id_number(2005, "Nam", province="079")
    assert valid[3] == "2"
    assert validate_id_number(valid, today=TODAY) == valid
    # G = 8 reads as a birth in the 2300s: no card holder has it, so the number was mistyped.
    invalid = valid[:3] + "8" + valid[4:]
    with pytest.raises(FormErrors) as caught:
        validate_id_number(invalid, today=TODAY)
    message = caught.value.errors["id_number"]
    assert "không đúng cấu trúc" in message and "chữ số thế kỷ 8" in message and "2305" in message


def test_a_twelve_digit_number_whose_birth_year_is_still_to_come_is_refused() -> None:
    with pytest.raises(FormErrors, match="không đúng cấu trúc"):
        validate_id_number("079226001234", today=TODAY)  # 2026, after TODAY
    assert validate_id_number("079225001234", today=TODAY) == "079225001234"


def test_validate_id_number_alone_cleans_and_refuses() -> None:
    assert validate_id_number(" 045 193.001 234 ") == "045193001234"
    with pytest.raises(FormErrors) as caught:
        validate_id_number("")
    assert caught.value.errors == {"id_number": "Số CMND/CCCD là bắt buộc"}
    with pytest.raises(FormErrors, match="12 chữ số"):
        validate_id_number("12345")


def test_a_birth_year_that_disagrees_with_the_id_number_is_an_error_on_the_date() -> None:
    form = _form(id_number=_id_number(1993, "Nữ"), date_of_birth="15/08/1994")
    with pytest.raises(FormErrors) as caught:
        validate_citizen(form, unit_ids=UNITS, today=TODAY)
    assert set(caught.value.errors) == {"date_of_birth"}
    message = caught.value.errors["date_of_birth"]
    assert "1994" in message and "1993" in message and "không khớp" in message


def test_the_century_digit_takes_part_in_the_birth_year_check() -> None:
    # Same YY, other century: born 1905 vs a number that says 2005.
    form = _form(id_number=_id_number(2005, "Nam"), date_of_birth="01/01/1905")
    with pytest.raises(FormErrors) as caught:
        validate_citizen(form, unit_ids=UNITS, today=date(2024, 1, 1))
    assert "2005" in caught.value.errors["date_of_birth"]


@pytest.mark.parametrize(
    ("written", "normalised"),
    [
        ("nguye\u0302\u0303n  thi\u0323   hu\u031bo\u031bng", "NGUYỄN THỊ HƯƠNG"),  # decomposed, as some IMEs send
        ("  đỗ   quang   đạt ", "ĐỖ QUANG ĐẠT"),
        ("Trương\u00a0Mỹ Lan", "TRƯƠNG MỸ LAN"),  # a non-breaking space pasted from a document
        ("H\u2019Hen Niê", "H'HEN NIÊ"),  # Ê Đê names carry an apostrophe
    ],
)
def test_names_are_nfc_single_spaced_upper_case(written: str, normalised: str) -> None:
    info = validate_citizen(_form(full_name=written), unit_ids=UNITS, today=TODAY)
    assert info.full_name == normalised
    assert all(len(ch.encode("utf-8")) <= 3 for ch in info.full_name)  # precomposed: no combining marks left
    assert "\u0303" not in info.full_name


def test_an_apostrophe_outside_a_word_is_refused() -> None:
    with pytest.raises(FormErrors, match="chữ cái"):
        validate_citizen(_form(full_name="'Nguyễn Văn A"), unit_ids=UNITS, today=TODAY)


def test_email_is_optional_and_lower_cased() -> None:
    assert validate_citizen(_form(email="  "), unit_ids=UNITS, today=TODAY).email is None
    info = validate_citizen(_form(email="Tran.Van-An+dvc@UBND.QuangTri.gov.vn"), unit_ids=UNITS, today=TODAY)
    assert info.email == "tran.van-an+dvc@ubnd.quangtri.gov.vn"


def test_masks_and_dates_for_logs_and_forms() -> None:
    assert mask_id_number("045193001234") == "********1234"
    assert mask_id_number("197123456") == "*****3456"
    assert format_date(date(1993, 8, 5)) == "05/08/1993"


# ---- the attachment ------------------------------------------------------------------------------------------


def _pdf(pages: int = 1, **save: object) -> bytes:
    doc = pymupdf.open()
    for i in range(pages):
        doc.new_page().insert_text((72, 72), f"CCCD mặt {i + 1}")
    return bytes(doc.tobytes(**save))


def _docx(extra: int = 0, with_document: bool = True) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Override PartName="/word/document.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
        )
        archive.writestr(
            "_rels/.rels",
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
            'officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>',
        )
        if with_document:
            archive.writestr(
                "word/document.xml",
                '<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/'
                'wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>CCCD</w:t></w:r></w:p></w:body></w:document>',
            )
        if extra:
            archive.writestr(zipfile.ZipInfo("word/media/scan.bin"), b"\0" * extra, zipfile.ZIP_STORED)
    return buffer.getvalue()


_END_OF_CHAIN, _FREE, _FAT_SECTOR, _NO_STREAM = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD, 0xFFFFFFFF


def _compound_file(streams: dict[str, bytes], *, directory_last: bool = False) -> bytes:
    """A version 3 compound file (MS-CFB, 512-byte sectors) whose root holds the given streams.

    Streams must be at least 4096 bytes (the mini-stream cutoff) so that they live in ordinary sectors.
    """
    names = sorted(streams, key=lambda n: (len(n), n.upper()))  # the order MS-CFB compares names in
    directory_sectors = -(-(len(names) + 1) // 4)  # four 128-byte entries to a sector, the root included
    used = directory_sectors + sum(-(-len(data) // 512) for data in streams.values())
    fat_sectors = 1
    while fat_sectors * 128 < used + fat_sectors:
        fat_sectors += 1
    assert fat_sectors <= 109  # no DIFAT sectors beyond the header's list
    sectors: list[bytes] = []
    fat: list[int] = [_FAT_SECTOR] * fat_sectors  # the FAT comes first, in sectors 0..fat_sectors-1

    def place(data: bytes) -> int:
        first = len(fat)
        count = -(-len(data) // 512)
        fat.extend([*range(first + 1, first + count), _END_OF_CHAIN])
        sectors.extend(data[i * 512 : (i + 1) * 512].ljust(512, b"\0") for i in range(count))
        return first

    def entry(name: str, kind: int, right: int, child: int, start: int, size: int) -> bytes:
        encoded = name.encode("utf-16-le")
        return (
            encoded.ljust(64, b"\0")
            + struct.pack("<HBB3I", len(encoded) + 2, kind, 1, _NO_STREAM, right, child)
            + b"\0" * 36  # CLSID, state bits, creation and modification times
            + struct.pack("<IQ", start, size)
        )

    def directory(starts: dict[str, int]) -> bytes:
        entries = [entry("Root Entry", 5, _NO_STREAM, 1, _END_OF_CHAIN, 0)]
        for i, name in enumerate(names):
            right = i + 2 if i + 1 < len(names) else _NO_STREAM  # each stream's right sibling is the next
            entries.append(entry(name, 2, right, _NO_STREAM, starts[name], len(streams[name])))
        while len(entries) % 4:
            entries.append(b"\0" * 64 + struct.pack("<HBB3I", 0, 0, 0, _NO_STREAM, _NO_STREAM, _NO_STREAM) + b"\0" * 48)
        return b"".join(entries)

    assert all(len(data) >= 4096 for data in streams.values())
    if directory_last:
        starts = {name: place(streams[name]) for name in names}
        first_directory = place(directory(starts))
    else:
        # Reserve the directory's sectors first, then fill them in once the streams have their places.
        first_directory = place(b"\0" * 512 * directory_sectors)
        starts = {name: place(streams[name]) for name in names}
        table = directory(starts)
        for i in range(directory_sectors):
            sectors[first_directory - fat_sectors + i] = table[i * 512 : (i + 1) * 512]
    fat.extend([_FREE] * (fat_sectors * 128 - len(fat)))
    header = struct.pack(
        "<8s16sHHHHH6s9I",
        bytes.fromhex("D0CF11E0A1B11AE1"),
        b"\0" * 16,
        0x3E,  # minor version
        3,  # major version: 512-byte sectors
        0xFFFE,  # little-endian
        9,  # sector shift
        6,  # mini sector shift
        b"\0" * 6,
        0,  # directory sectors: always 0 in version 3
        fat_sectors,
        first_directory,
        0,  # transaction signature
        4096,  # mini-stream cutoff
        _END_OF_CHAIN,  # no mini FAT
        0,
        _END_OF_CHAIN,  # no DIFAT sectors
        0,
    ) + struct.pack("<109I", *range(fat_sectors), *[_FREE] * (109 - fat_sectors))
    assert len(header) == 512
    return header + struct.pack(f"<{len(fat)}I", *fat) + b"".join(sectors)


def _file_says(data: bytes, tmp_path_factory: pytest.TempPathFactory) -> str:
    """What libmagic's own compound-file reader makes of the bytes: an independent check of the builder."""
    import shutil
    import subprocess

    if shutil.which("file") is None:
        pytest.skip("the file command is not installed")
    path = tmp_path_factory.mktemp("ole") / "scan.bin"
    path.write_bytes(data)
    return subprocess.run(["file", "-b", "--mime-type", str(path)], check=True, capture_output=True, text=True).stdout


def test_a_real_pdf_is_a_pdf() -> None:
    assert sniff_attachment(_pdf(pages=2)) == "pdf"
    assert CONTENT_TYPES["pdf"] == "application/pdf"


def test_a_real_docx_is_a_docx() -> None:
    data = _docx()
    assert sniff_attachment(data) == "docx"
    assert CONTENT_TYPES["docx"].endswith("wordprocessingml.document")


def test_a_zip_that_is_not_a_word_document_is_refused() -> None:
    with pytest.raises(AttachmentError, match="không phải văn bản Word"):
        sniff_attachment(_docx(with_document=False))


@pytest.mark.parametrize("directory_last", [False, True])
def test_an_ole2_word_document_is_a_doc(directory_last: bool, tmp_path_factory: pytest.TempPathFactory) -> None:
    # A scan embedded in a .doc makes it large; Word then often writes the directory at the end of the file.
    data = _compound_file(
        {"WordDocument": b"\xec\xa5" + b"\0" * 4094, "1Table": b"\0" * 4096, "Data": b"\x89PNG" * 20000},
        directory_last=directory_last,
    )
    assert data.find("WordDocument".encode("utf-16-le")) > (65536 if directory_last else 0)
    assert _file_says(data, tmp_path_factory).strip() == "application/msword"
    assert sniff_attachment(data) == "doc"


def test_an_ole2_file_that_is_not_word_is_refused(tmp_path_factory: pytest.TempPathFactory) -> None:
    data = _compound_file({"Workbook": b"\0" * 4096})
    assert _file_says(data, tmp_path_factory).strip() != "application/msword"
    with pytest.raises(AttachmentError, match="không phải văn bản Word"):
        sniff_attachment(data)


def test_a_bare_ole2_header_is_refused() -> None:
    with pytest.raises(AttachmentError, match="doc, docx hoặc pdf"):
        sniff_attachment(bytes.fromhex("D0CF11E0A1B11AE1") + b"WordDocument" + b"\0" * 600)


def test_a_png_named_pdf_is_refused() -> None:
    png = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 40, 25), False).tobytes("png")
    assert png.startswith(b"\x89PNG")
    with pytest.raises(AttachmentError) as caught:
        sniff_attachment(png)
    assert str(caught.value) == "Tệp đính kèm phải là doc, docx hoặc pdf"


def test_an_empty_file_is_refused() -> None:
    with pytest.raises(AttachmentError, match="Tệp đính kèm rỗng"):
        sniff_attachment(b"")


def test_five_megabytes_is_the_limit_to_the_byte() -> None:
    overhead = len(_docx(extra=1)) - 1
    exactly = _docx(extra=MAX_ATTACHMENT_BYTES - overhead)
    assert len(exactly) == MAX_ATTACHMENT_BYTES == 5 * 1024 * 1024
    assert sniff_attachment(exactly) == "docx"
    with pytest.raises(AttachmentError, match="vượt quá 5MB"):
        sniff_attachment(_docx(extra=MAX_ATTACHMENT_BYTES - overhead + 1))


def test_a_pdf_over_five_megabytes_is_refused_before_it_is_opened() -> None:
    with pytest.raises(AttachmentError, match="vượt quá 5MB"):
        sniff_attachment(_pdf() + b"\0" * MAX_ATTACHMENT_BYTES)


@pytest.mark.parametrize(
    "save",
    [
        {"encryption": pymupdf.PDF_ENCRYPT_AES_256, "user_pw": "1234", "owner_pw": "5678"},
        {"encryption": pymupdf.PDF_ENCRYPT_AES_128, "owner_pw": "5678", "permissions": 0},
    ],
    ids=["user-password", "owner-password-only"],
)
def test_an_encrypted_pdf_is_refused(save: dict[str, object]) -> None:
    data = _pdf(**save)
    with pytest.raises(AttachmentError, match="mật khẩu hoặc bị mã hóa"):
        sniff_attachment(data)


def test_a_broken_pdf_is_refused() -> None:
    with pytest.raises(AttachmentError, match="bị hỏng"):
        sniff_attachment(b"%PDF-1.7\nnot really a pdf")


# ---- nothing but our own errors, whatever comes in -----------------------------------------------------------

_PHONEISH = st.from_regex(r"\A[+]?[0-9 .()\-]{0,20}\Z") | st.text(max_size=30)


@settings(max_examples=300)
@given(_PHONEISH)
def test_normalise_phone_returns_a_national_number_or_its_own_error(text: str) -> None:
    try:
        phone = normalise_phone(text)
    except PhoneError as exc:
        assert str(exc).startswith("Số điện thoại")
    else:
        assert len(phone) == 10 and phone.startswith("0") and phone.isdigit()


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from([*FIELDS, "other"]),
        st.text(max_size=40) | st.from_regex(r"\A[0-9 ./\-]{0,14}\Z") | st.sampled_from(["7", "15/08/1993"]),
    )
)
def test_validate_citizen_returns_information_or_form_errors(form: dict[str, str]) -> None:
    try:
        info = validate_citizen(form, unit_ids=UNITS, today=TODAY)
    except FormErrors as exc:
        assert exc.errors and set(exc.errors) <= set(FIELDS)
        assert all(message for message in exc.errors.values())
    else:
        assert info.unit_id in UNITS and info.full_name == info.full_name.upper()


_HEADERS = st.sampled_from([b"", b"%PDF-1.7\n", bytes.fromhex("D0CF11E0A1B11AE1"), b"PK\x03\x04"])


@settings(max_examples=200, deadline=None)
@given(_HEADERS, st.binary(max_size=2048))
def test_sniff_attachment_returns_a_kind_or_its_own_error(header: bytes, body: bytes) -> None:
    try:
        kind = sniff_attachment(header + body)
    except AttachmentError as exc:
        assert str(exc).startswith("Tệp")
    else:
        assert kind in CONTENT_TYPES


# Made once: pymupdf writes a fresh file ID each time, and hypothesis needs the same originals on every run.
_REAL_FILES = (_pdf(), _docx(), _compound_file({"WordDocument": b"\0" * 4096}))


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_damaged_real_files_give_a_kind_or_our_error(data: st.DataObject) -> None:
    original = data.draw(st.sampled_from(_REAL_FILES))
    at = data.draw(st.integers(0, len(original) - 1))
    damaged = original[:at] + data.draw(st.binary(min_size=1, max_size=16)) + original[at + 16 :]
    try:
        kind = sniff_attachment(damaged)
    except AttachmentError:
        return
    assert kind in CONTENT_TYPES
