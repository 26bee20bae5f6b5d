"""The request form PDF: one A4 page in Vietnamese whose text comes back out exactly as it went in."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime, timedelta, timezone

import pymupdf
import pytest

from forms.request_form import TITLE, RequestFormData, render_request_form

INFO = RequestFormData(
    id_number="045193001234",
    full_name="NGUYỄN THỊ HƯƠNG",
    date_of_birth=date(1993, 8, 5),
    phone="0912345678",
    email="huong.nguyen@gmail.com",
    unit_name="Bộ phận Một cửa UBND Phường 5, thành phố Đông Hà",
    officer_name="TRẦN VĂN ĐỨC",
    officer_phone="0987654321",
    created_at=datetime(2025, 3, 7, 9, 5, tzinfo=timezone(timedelta(hours=7))),
)


@pytest.fixture(scope="module")
def rendered() -> bytes:
    return render_request_form(INFO)


def _text(data: bytes) -> str:
    with pymupdf.open(stream=data, filetype="pdf") as doc:
        return "\n".join(page.get_text() for page in doc)


def test_one_a4_page_well_under_the_size_aim(rendered: bytes) -> None:
    with pymupdf.open(stream=rendered, filetype="pdf") as doc:
        assert doc.page_count == 1
        width_mm, height_mm = (v / 72 * 25.4 for v in (doc[0].rect.width, doc[0].rect.height))
        assert width_mm == pytest.approx(210, abs=0.5) and height_mm == pytest.approx(297, abs=0.5)
        assert doc.metadata is not None and doc.metadata["title"] == TITLE
        assert doc.metadata["creationDate"] == "D:20250307090500+07'00'"
    assert len(rendered) < 100 * 1024


@pytest.mark.parametrize(
    "expected",
    [
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "GIẤY ĐỀ NGHỊ TẠO TÀI KHOẢN",
        "trên Cổng Dịch vụ công quốc gia",
        "Kính gửi:",
        "Bộ phận Một cửa UBND Phường 5, thành phố Đông Hà",
        "Số CMND/CCCD:",
        "045193001234",
        "Họ và tên:",
        "NGUYỄN THỊ HƯƠNG",
        "Ngày sinh (dd/mm/yyyy):",
        "05/08/1993",
        "Số điện thoại:",
        "0912345678",
        "Email:",
        "huong.nguyen@gmail.com",
        "Cán bộ:",
        "TRẦN VĂN ĐỨC",
        "0987654321",
        "Đơn vị:",
        "Thời gian tạo:",
        "09:05 07/03/2025",
        "Phường 5, ngày 07 tháng 03 năm 2025",
        "NGƯỜI ĐỀ NGHỊ",
        "CÁN BỘ TIẾP NHẬN",
        "(Ký, ghi rõ họ tên)",
    ],
)
def test_the_vietnamese_text_comes_back_exactly(rendered: bytes, expected: str) -> None:
    assert expected in _text(rendered)


def test_the_text_is_nfc_with_real_glyphs(rendered: bytes) -> None:
    text = _text(rendered)
    assert unicodedata.is_normalized("NFC", text)
    assert "\ufffd" not in text  # a glyph the font lacks would come back as the replacement character
    with pymupdf.open(stream=rendered, filetype="pdf") as doc:
        fonts = doc.get_page_fonts(0)
    # Subset fonts carry a six-letter tag before the name: proof that only the glyphs used are embedded.
    assert fonts and all(f[3][6] == "+" and "Noto Sans" in f[3] for f in fonts)


def test_the_citizen_confirms_the_phone_is_their_own(rendered: bytes) -> None:
    text = " ".join(_text(rendered).split())
    assert "số điện thoại 0912345678 là số điện thoại của chính tôi" in text
    assert "đúng sự thật" in text
    assert text.count("(Ký, ghi rõ họ tên)") == 2


def test_no_email_and_long_values_still_fit_one_page() -> None:
    long = RequestFormData(
        **{
            **INFO.__dict__,
            "email": None,
            "unit_name": "Trung tâm Phục vụ hành chính công " * 4,
            "full_name": "TÔN NỮ THỊ HOÀNG PHƯƠNG THẢO",
            "place": "Đông Hà",
        }
    )
    data = render_request_form(long)
    text = _text(data)
    with pymupdf.open(stream=data, filetype="pdf") as doc:
        assert doc.page_count == 1
        bottoms = [block[3] for block in doc[0].get_text("blocks")]
        assert max(bottoms) < doc[0].rect.height - 36  # nothing runs into the bottom margin
    assert "(không có)" in text
    assert "TÔN NỮ THỊ HOÀNG PHƯƠNG THẢO" in text
    assert "Đông Hà, ngày 07 tháng 03 năm 2025" in text


def test_the_longest_values_the_rules_allow_still_fit_one_page() -> None:
    # 100 characters of name (forms.rules), 254 of e-mail, 200 of unit and officer name (the tables' columns).
    extreme = RequestFormData(
        **{
            **INFO.__dict__,
            "full_name": "HOÀNG " * 16 + "ANH",
            "email": "a" * 244 + "@gmail.com",
            "unit_name": "Trung tâm Phục vụ hành chính công tỉnh " * 5 + "Quảng Trị",
            "officer_name": "Đ" * 200,
        }
    )
    data = render_request_form(extreme)
    with pymupdf.open(stream=data, filetype="pdf") as doc:
        assert doc.page_count == 1
        page = doc[0]
        for x0, _, x1, y1, *_ in page.get_text("blocks"):
            assert x0 >= 0 and x1 <= page.rect.width and y1 < page.rect.height - 36
        assert "(Ký, ghi rõ họ tên)" in page.get_text()
    assert len(data) < 100 * 1024


def test_the_same_request_renders_the_same_bytes(rendered: bytes) -> None:
    # The officer may download the form twice; the citizen must sign the same document.
    assert render_request_form(INFO) == rendered
    changed = render_request_form(RequestFormData(**{**INFO.__dict__, "phone": "0381234567"}))
    assert changed != rendered and "0381234567" in _text(changed)
