"""The request to create an account (giấy đề nghị tạo tài khoản) as a one-page A4 PDF for the citizen to check."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import cache

import pymupdf

TITLE = "Giấy đề nghị tạo tài khoản trên Cổng Dịch vụ công quốc gia"

# Noto Sans from pymupdf-fonts: the base-14 PDF fonts have no glyphs for Vietnamese tone marks.
_FONTS = {"regular": "notos", "bold": "notosbo", "italic": "notosit"}

_PAGE = pymupdf.paper_rect("a4")
_MARGIN_X = 62.0  # about 2.2 cm, the margins of an administrative document
_LEFT = _MARGIN_X
_RIGHT = _PAGE.width - _MARGIN_X
_LABEL_WIDTH = 165.0
_SIZES = (12.5, 11.5, 10.5, 9.5, 8.5)  # body text, largest first
_BOTTOM_MARGIN = 50.0
_LEADING = 1.45  # line height as a multiple of the font size


@dataclass(frozen=True)
class RequestFormData:
    """What the request form shows: the citizen's information as entered and the officer who received it."""

    id_number: str
    full_name: str
    date_of_birth: date
    phone: str
    email: str | None
    unit_name: str
    officer_name: str
    officer_phone: str
    created_at: datetime
    place: str = "Phường 5"


@cache
def _font(style: str) -> pymupdf.Font:
    return pymupdf.Font(_FONTS[style])


def _dmy(d: date) -> str:
    return f"{d.day:02d}/{d.month:02d}/{d.year:04d}"


def _pdf_date(moment: datetime) -> str:
    """The PDF date string of a moment, so that the same request always renders the same metadata."""
    text = f"D:{moment:%Y%m%d%H%M%S}"
    offset = moment.utcoffset()
    if offset is None:
        return text
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"{text}{sign}{abs(minutes) // 60:02d}'{abs(minutes) % 60:02d}'"


class _Writer:
    """Lines of text placed top to bottom on one page, wrapped by the font's own measures."""

    def __init__(self, page: pymupdf.Page, size: float) -> None:
        self.page = page
        self.size = size  # the body text's size; headings keep theirs
        self.y = 0.0
        for style in _FONTS:
            page.insert_font(fontname=style, fontbuffer=_font(style).buffer)

    def text(self, x: float, text: str, *, style: str = "regular", size: float | None = None) -> None:
        self.page.insert_text((x, self.y), text, fontname=style, fontsize=size or self.size)

    def width(self, text: str, *, style: str = "regular", size: float | None = None) -> float:
        return _font(style).text_length(text, fontsize=size or self.size)

    def centred(self, text: str, centre: float, *, style: str = "regular", size: float | None = None) -> float:
        width = self.width(text, style=style, size=size)
        self.text(centre - width / 2, text, style=style, size=size)
        return width

    def wrap(self, text: str, first: float, rest: float, *, style: str = "regular") -> list[str]:
        """Lines no wider than first (the first line) and rest (the others); a word too long is cut."""
        lines: list[str] = []
        line = ""
        for word in text.split():
            candidate = f"{line} {word}" if line else word
            if self.width(candidate, style=style) <= (rest if lines else first):
                line = candidate
                continue
            if line:
                lines.append(line)
            line = word
            # An e-mail address or a pasted string can be wider than the page on its own.
            while self.width(line, style=style) > (rest if lines else first):
                cut = self.fitting(line, rest if lines else first, style=style)
                lines.append(line[:cut])
                line = line[cut:]
        return [*lines, line] if line else lines

    def fitting(self, text: str, width: float, *, style: str = "regular") -> int:
        """How many of the text's first characters fit in the width (at least one, so that cutting ends)."""
        # insert_text does not kern, so a line is as wide as the sum of its characters' advances.
        used = 0.0
        for i, ch in enumerate(text):
            used += self.width(ch, style=style)
            if used > width:
                return max(i, 1)
        return len(text)

    def paragraph(self, x: float, text: str, *, style: str = "regular", indent: float = 0) -> None:
        """Text from x to the right margin, its first line indented by indent."""
        for i, line in enumerate(self.wrap(text, _RIGHT - x - indent, _RIGHT - x, style=style)):
            if i:
                self.newline()
            self.text(x + (0 if i else indent), line, style=style)
        self.newline()

    def field(self, label: str, value: str) -> None:
        self.text(_LEFT + 18, f"{label}:")
        self.paragraph(_LEFT + 18 + _LABEL_WIDTH, value, style="bold")

    def newline(self, size: float | None = None, lines: float = 1.0) -> None:
        self.y += (size or self.size) * _LEADING * lines


def _header(w: _Writer) -> None:
    centre = _PAGE.width / 2
    w.y = 70
    w.centred("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", centre, style="bold", size=13)
    w.newline(13)
    width = w.centred("Độc lập - Tự do - Hạnh phúc", centre, style="bold", size=13)
    # The motto is underlined across its own width, as on every administrative document.
    w.page.draw_line((centre - width / 2, w.y + 4), (centre + width / 2, w.y + 4), width=0.7)
    w.newline(13, 2.6)
    w.centred("GIẤY ĐỀ NGHỊ TẠO TÀI KHOẢN", centre, style="bold", size=16)
    w.newline(14)
    w.centred("trên Cổng Dịch vụ công quốc gia", centre, style="bold", size=13)
    w.newline(13, 2.2)


def _signatures(w: _Writer, info: RequestFormData) -> None:
    column = (_RIGHT - _LEFT) / 2
    left, right = _LEFT + column / 2, _LEFT + 3 * column / 2
    made = info.created_at
    w.centred(f"{info.place}, ngày {made.day:02d} tháng {made.month:02d} năm {made.year}", right, style="italic")
    w.newline()
    w.centred("NGƯỜI ĐỀ NGHỊ", left, style="bold")
    w.centred("CÁN BỘ TIẾP NHẬN", right, style="bold")
    w.newline()
    w.centred("(Ký, ghi rõ họ tên)", left, style="italic", size=w.size - 1.5)
    w.centred("(Ký, ghi rõ họ tên)", right, style="italic", size=w.size - 1.5)
    w.newline(lines=5)  # room to sign
    names = [w.wrap(name, column - 12, column - 12, style="bold") for name in (info.full_name, info.officer_name)]
    for i in range(max(map(len, names))):
        for lines, centre in zip(names, (left, right), strict=True):
            if i < len(lines):
                w.centred(lines[i], centre, style="bold")
        w.newline()


def _draw(page: pymupdf.Page, info: RequestFormData, size: float) -> float:
    """Lay the form out on the page with body text of the given size; the height it reached."""
    w = _Writer(page, size)
    _header(w)

    w.text(_LEFT + 40, "Kính gửi:")
    w.paragraph(_LEFT + 40 + w.width("Kính gửi: "), info.unit_name, style="bold")
    w.newline(lines=0.6)

    w.text(_LEFT, "I. THÔNG TIN CÔNG DÂN", style="bold")
    w.newline()
    w.field("Số CMND/CCCD", info.id_number)
    w.field("Họ và tên", info.full_name)
    w.field("Ngày sinh (dd/mm/yyyy)", _dmy(info.date_of_birth))
    w.field("Số điện thoại", info.phone)
    w.field("Email", info.email or "(không có)")
    w.newline(lines=0.4)
    # The seed asks that the phone be the account holder's own: the citizen signs to that, not only to the data.
    w.paragraph(
        _LEFT,
        "Tôi đề nghị tạo tài khoản trên Cổng Dịch vụ công quốc gia với các thông tin nêu trên. Tôi xin cam đoan "
        f"các thông tin trên là đúng sự thật và số điện thoại {info.phone} là số điện thoại của chính tôi, "
        "chủ tài khoản đang đăng ký, dùng để nhận mã OTP và mật khẩu đăng nhập.",
        indent=28,
    )
    w.newline(lines=0.6)

    w.text(_LEFT, "II. THÔNG TIN CÁN BỘ TIẾP NHẬN", style="bold")
    w.newline()
    w.field("Cán bộ", info.officer_name)
    w.field("Số điện thoại", info.officer_phone)
    w.field("Đơn vị", info.unit_name)
    w.field("Thời gian tạo", f"{info.created_at:%H:%M} {_dmy(info.created_at)}")
    w.newline(lines=1.2)

    _signatures(w, info)
    return w.y


def render_request_form(info: RequestFormData) -> bytes:
    """The filled request form as the bytes of a one-page A4 PDF with its fonts subset."""
    doc = pymupdf.open()
    # Long unit names or addresses are set smaller rather than spilling onto a second page the citizen may not sign.
    for size in _SIZES:
        page = doc.new_page(width=_PAGE.width, height=_PAGE.height)
        if _draw(page, info, size) <= _PAGE.height - _BOTTOM_MARGIN or size == _SIZES[-1]:
            break
        doc.delete_page(0)

    when = _pdf_date(info.created_at)
    doc.set_metadata(
        {
            "title": TITLE,
            "subject": "Đề nghị tạo tài khoản",
            "creator": "motcua",
            "producer": "motcua",
            "creationDate": when,
            "modDate": when,
        }
    )
    doc.subset_fonts()
    # Object streams compress the fonts' width arrays, which list every glyph of Noto and not only the used ones.
    data = doc.tobytes(garbage=4, deflate=True, deflate_fonts=True, use_objstms=True, no_new_id=True)
    doc.close()
    return bytes(data)
