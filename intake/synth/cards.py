"""The ten card designs (five generations, front and back) rendered upright at 300 dpi."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

from intake.synth import draw
from intake.synth.draw import BLACK, CARD_HEIGHT, CARD_WIDTH, DARK_RED, INK, NAVY, RED, TextStyle
from intake.synth.people import DOCUMENT_TYPES, Person, age_on
from ocr.mrz import compose_td1

SIDES = ("front", "back")
WITH_MRZ = ("cccd_chip", "cancuoc2024")
WITH_QR = ("cccd_barcode", "cccd_chip", "cancuoc2024")
QR_SIDE = {"cccd_barcode": "back", "cccd_chip": "front", "cancuoc2024": "back"}
NO_EXPIRY_TEXT = "Không thời hạn"

# Text sizes as capital heights in px at 300 dpi (11.8 px per mm): values 2.2-2.8 mm, labels smaller.
LABEL = TextStyle("sans", 18, INK)
LABEL_BOLD = TextStyle("sans_bold", 18, INK)
LABEL_EN = TextStyle("sans_italic", 15, INK)
VALUE = TextStyle("sans_bold", 27, BLACK)
NAME = TextStyle("sans_bold", 31, BLACK)
MOTTO = TextStyle("sans_bold", 19, BLACK)
MOTTO_EN = TextStyle("sans_bold", 14, BLACK)
SERIF_LABEL = TextStyle("serif", 20, INK)
SERIF_VALUE = TextStyle("serif_bold", 27, BLACK)
SERIF_NAME = TextStyle("serif_bold", 30, BLACK)
SMALL_BOLD = TextStyle("sans_bold", 15, INK)
SMALL_EN = TextStyle("sans_italic", 11, INK)
MRZ_CAP = 27
MRZ_PITCH = 30.0  # 2.54 mm: ICAO's 10 characters per inch
MRZ_BASELINES = (512, 561, 610)
MRZ_X = 58


@dataclass
class RenderedCard:
    """One rendered side: the picture and where the parts a reader looks for are."""

    image: np.ndarray  # BGR uint8, CARD_HEIGHT x CARD_WIDTH
    qr_box: tuple[int, int, int, int] | None = None  # x0, y0, x1, y1
    mrz: tuple[str, str, str] | None = None
    qr_payload: str | None = None


@dataclass
class _Ink:
    """A layer printed over the card, blended by multiplication (inks darken, they do not cover)."""

    alpha: np.ndarray  # float32 0..1
    x: int
    y: int
    color: tuple[int, int, int]


@dataclass
class Canvas:
    """Two passes over one design: the static pass prints the blank card (cached), the value pass the rest."""

    image: Image.Image
    static: bool
    inks: list[_Ink] = field(default_factory=list)
    qr_box: tuple[int, int, int, int] | None = None
    qr_payload: str | None = None
    mrz: tuple[str, str, str] | None = None

    def __post_init__(self) -> None:
        self.draw = ImageDraw.Draw(self.image)

    # Printed on every blank card.
    def label(self, x: float, y: float, text: str, style: TextStyle = LABEL, anchor: str = "ls") -> float:
        if self.static:
            return draw.draw_text(self.draw, (x, y), text, style, anchor)
        return x + draw.text_width(text, style.font, style.cap)

    def bilingual(self, x: float, y: float, vi: str, en: str, vi_style: TextStyle = LABEL) -> float:
        """'Họ và tên / Full name:' as the chip cards print it: Vietnamese upright, English italic."""
        end = self.label(x, y, vi + " / ", vi_style)
        en_style = TextStyle(LABEL_EN.font, LABEL_EN.cap, vi_style.color)
        return self.label(end, y, en + ":", en_style)

    def dots(self, x0: float, x1: float, y: float) -> None:
        if self.static:
            draw.dotted_line(self.draw, x0, x1, y + 5)

    def emblem(self, cx: int, cy: int, radius: int) -> None:
        if self.static:
            mark = draw.emblem(radius)
            self.image.paste(mark, (cx - radius, cy - radius), mark)

    def chip(self, x: int, y: int, width: int, height: int) -> None:
        if self.static:
            self.image.paste(draw.chip(width, height), (x, y))

    def box(self, xy: tuple[float, float, float, float], color: tuple[int, int, int] = INK, width: int = 2) -> None:
        if self.static:
            self.draw.rectangle(xy, outline=color, width=width)

    def lighten(self, xy: tuple[int, int, int, int], amount: float) -> None:
        """Print a light screen over an area (the MRZ band), the pattern still showing through."""
        if self.static:
            area = np.asarray(self.image.crop(xy), dtype=np.float32)
            self.image.paste(Image.fromarray((area + (250 - area) * amount).astype(np.uint8)), xy[:2])

    # Printed for each holder.
    def value(
        self, x: float, y: float, text: str, style: TextStyle = VALUE, max_x: float = 995, anchor: str = "ls"
    ) -> None:
        if not self.static:
            available = 2 * (max_x - x) if anchor[0] == "m" else max_x - x
            fitted = draw.fit_style(text, style, available)
            draw.draw_text(self.draw, (x, y), text, fitted, anchor)

    def wrapped(
        self,
        x: float,
        y: float,
        text: str,
        style: TextStyle = VALUE,
        *,
        max_x: float = 995,
        cont_x: float | None = None,
        pitch: float = 38,
        lines: int = 2,
    ) -> None:
        """A value on up to `lines` lines; the first may start after its label, the rest at cont_x."""
        if self.static:
            return
        cont = x if cont_x is None else cont_x
        # A value that nearly fits stays on one line, a little smaller, rather than leave a word alone below.
        for scale in (1.0, 0.95, 0.9):
            single = TextStyle(style.font, style.cap * scale, style.color)
            if draw.text_width(text, single.font, single.cap) <= max_x - x:
                draw.draw_text(self.draw, (x, y), text, single)
                return
        parts: list[str] = []
        current = style
        for scale in (1.0, 0.94, 0.88, 0.82, 0.76):
            current = TextStyle(style.font, style.cap * scale, style.color)
            parts = draw.wrap_words(text, current, max_x - x, max_x - cont, lines)
            limits = [max_x - x] + [max_x - cont] * (len(parts) - 1)
            if all(
                draw.text_width(part, current.font, current.cap) <= limit
                for part, limit in zip(parts, limits, strict=True)
            ):
                break
        if draw.text_width(parts[0], current.font, current.cap) > max_x - x:
            # Not even the first word fits beside the label: the value starts on the next line.
            parts = draw.wrap_words(text, current, max_x - cont, max_x - cont, lines)
            y += pitch
            x = cont
        for i, part in enumerate(parts):
            line_x = x if i == 0 else cont
            fitted = draw.fit_style(part, current, max_x - line_x)
            draw.draw_text(self.draw, (line_x, y + i * pitch), part, fitted)

    def photo(self, person: Person, box: tuple[int, int, int, int]) -> None:
        if self.static:
            return
        x0, y0, x1, y1 = box
        look = draw.portrait_look(
            person.portrait_seed,
            person.sex,
            age_on(person.date_of_birth, person.date_of_issue),
            person.document_type,
        )
        self.image.paste(draw.portrait(look, x1 - x0, y1 - y0), (x0, y0))

    def qr(self, payload: str, x: int, y: int, size: int) -> None:
        self.qr_box = (x, y, x + size, y + size)
        self.qr_payload = payload
        if not self.static:
            self.image.paste(Image.fromarray(draw.qr_image(payload, size)).convert("RGB"), (x, y))

    def fingerprint(self, rng: np.random.Generator, box: tuple[int, int, int, int]) -> None:
        if not self.static:
            x0, y0, x1, y1 = box
            self.inks.append(_Ink(draw.fingerprint(rng, x1 - x0, y1 - y0), x0, y0, (35, 35, 45)))

    def seal(self, rng: np.random.Generator, issuer: str, cx: int, cy: int, radius: int) -> None:
        """Signature in ink, then the red seal over its left half, as officials sign and stamp."""
        if self.static:
            return
        sig_w, sig_h = int(radius * 2.3), int(radius * 1.0)
        self.inks.append(_Ink(draw.signature(rng, sig_w, sig_h), cx - sig_w // 5, cy - sig_h // 2, (30, 40, 120)))
        alpha = draw.stamp(issuer, radius)
        # Seals are pressed unevenly: fade part of the ring.
        yy, xx = np.mgrid[0 : alpha.shape[0], 0 : alpha.shape[1]].astype(np.float32)
        gx, gy = rng.uniform(-1, 1, 2)
        uneven = np.clip(0.85 + 0.25 * (gx * (xx / alpha.shape[1] - 0.5) + gy * (yy / alpha.shape[0] - 0.5)), 0.5, 1)
        self.inks.append(_Ink(alpha * uneven * 0.85, cx - 2 * radius + radius // 3, cy - radius, (215, 40, 50)))

    def mrz_lines(self, lines: tuple[str, str, str]) -> None:
        self.mrz = lines
        if self.static:
            return
        face = draw.font("ocrb", MRZ_CAP)
        for line, baseline in zip(lines, MRZ_BASELINES, strict=True):
            for i, char in enumerate(line):
                # A fixed pitch per character, as the MRZ is printed; centred in its cell.
                self.draw.text((MRZ_X + (i + 0.5) * MRZ_PITCH, baseline), char, font=face, fill=BLACK, anchor="ms")

    def finish(self) -> np.ndarray:
        """The card as RGB uint8 with the ink layers multiplied in."""
        rgb = np.asarray(self.image, dtype=np.float32).copy()
        for ink in self.inks:
            h, w = ink.alpha.shape
            x0, y0 = max(0, ink.x), max(0, ink.y)
            x1, y1 = min(CARD_WIDTH, ink.x + w), min(CARD_HEIGHT, ink.y + h)
            alpha = ink.alpha[y0 - ink.y : y1 - ink.y, x0 - ink.x : x1 - ink.x, None]
            tint = np.array(ink.color, np.float32) / 255.0
            rgb[y0:y1, x0:x1] *= 1 - alpha * (1 - tint)
        return np.clip(rgb, 0, 255).astype(np.uint8)


# --- values as each generation prints them ----------------------------------------------------------------


def dmy(value: date, sep: str = "/") -> str:
    return value.strftime(f"%d{sep}%m{sep}%Y")


def written_date(value: date) -> str:
    """The CMND back's 'Ngày 11 tháng 10 năm 2006'."""
    return f"Ngày {value.day:02d} tháng {value.month:02d} năm {value.year}"


def expiry_text(person: Person) -> str:
    return NO_EXPIRY_TEXT if person.date_of_expiry is None else dmy(person.date_of_expiry)


def qr_payload(person: Person) -> str:
    """ID|old CMND or empty|name|DOB|sex|residence|issue date, as the chip cards encode it."""
    name = person.full_name.title() if person.qr_name_title_case else person.full_name
    return "|".join(
        (
            person.id_number,
            person.old_id_number or "",
            name,
            person.date_of_birth.strftime("%d%m%Y"),
            person.sex,
            person.place_of_residence,
            person.date_of_issue.strftime("%d%m%Y"),
        )
    )


def mrz_for(person: Person) -> tuple[str, str, str]:
    return compose_td1(person.id_number, person.date_of_birth, person.sex, person.date_of_expiry, person.full_name)


def _issuer_province(person: Person) -> str:
    return person.issuing_province.upper().replace("THÀNH PHỐ", "TP.")


def _rng(person: Person, side: str) -> np.random.Generator:
    return np.random.default_rng([person.portrait_seed, zlib.crc32(side.encode())])


def _motto(c: Canvas, cx: float, y: float, english: bool) -> float:
    c.label(cx, y, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", MOTTO, anchor="ms")
    c.label(cx, y + 30, "Độc lập - Tự do - Hạnh phúc", MOTTO, anchor="ms")
    if not english:
        width = draw.text_width("Độc lập - Tự do - Hạnh phúc", MOTTO.font, MOTTO.cap)
        if c.static:
            c.draw.line((cx - width / 2, y + 38, cx + width / 2, y + 38), fill=INK, width=2)
        return y + 38
    c.label(cx, y + 55, "SOCIALIST REPUBLIC OF VIET NAM", MOTTO_EN, anchor="ms")
    c.label(cx, y + 77, "Independence - Freedom - Happiness", TextStyle("sans_italic", 14, BLACK), anchor="ms")
    return y + 77


# --- CMND, 9 digits (1999) --------------------------------------------------------------------------------


def _cmnd9_front(c: Canvas, p: Person) -> None:
    c.emblem(112, 108, 82)
    c.label(620, 72, "GIẤY CHỨNG MINH NHÂN DÂN", TextStyle("serif_bold", 30, RED), anchor="ms")
    end = c.label(420, 140, "SỐ", TextStyle("serif_bold", 26, RED))
    c.value(end + 20, 142, p.id_number, TextStyle("serif_bold", 38, RED))
    rows = (210, 262, 314, 366, 418, 470, 522)
    x = 285
    end = c.label(x, rows[0], "Họ tên", SERIF_LABEL)
    c.dots(end + 8, 990, rows[0])
    c.value(end + 18, rows[0] - 2, p.full_name, SERIF_NAME, max_x=990)
    c.dots(x, 990, rows[1])
    end = c.label(x, rows[2], "Sinh ngày", SERIF_LABEL)
    c.dots(end + 8, 990, rows[2])
    c.value(end + 18, rows[2] - 2, dmy(p.date_of_birth, "-"), SERIF_VALUE, max_x=990)
    end = c.label(x, rows[3], "Nguyên quán", SERIF_LABEL)
    c.dots(end + 8, 990, rows[3])
    c.dots(x, 990, rows[4])
    c.wrapped(end + 18, rows[3] - 2, p.place_of_origin, SERIF_VALUE, max_x=990, cont_x=x + 10, pitch=52)
    end = c.label(x, rows[5], "Nơi ĐKHK thường trú", SERIF_LABEL)
    c.dots(end + 8, 990, rows[5])
    c.dots(x, 990, rows[6])
    c.wrapped(end + 18, rows[5] - 2, p.place_of_residence, SERIF_VALUE, max_x=990, cont_x=x + 10, pitch=52)
    c.photo(p, (40, 222, 252, 505))


def _cmnd9_back(c: Canvas, p: Person) -> None:
    rng = _rng(p, "back")
    # Left: the fingerprint table.
    c.box((28, 30, 452, 400), INK, 2)
    c.box((240, 30, 240, 400), INK, 2)
    c.box((28, 30, 452, 78), INK, 2)
    c.label(134, 64, "NGÓN TRỎ TRÁI", TextStyle("serif_bold", 17, INK), anchor="ms")
    c.label(346, 64, "NGÓN TRỎ PHẢI", TextStyle("serif_bold", 17, INK), anchor="ms")
    c.fingerprint(rng, (44, 92, 226, 390))
    c.fingerprint(rng, (256, 92, 438, 390))
    # Right: ethnicity, religion, marks, date, issuer.
    x = 480
    end = c.label(x, 66, "DÂN TỘC", TextStyle("serif_bold", 18, INK))
    c.value(end + 14, 66, p.ethnicity, SERIF_VALUE, max_x=735)
    end = c.label(745, 66, "TÔN GIÁO", TextStyle("serif_bold", 18, INK))
    c.value(end + 14, 66, p.religion, SERIF_VALUE, max_x=995)
    c.label(x, 120, "DẤU VẾT RIÊNG VÀ DỊ HÌNH", TextStyle("serif_bold", 18, INK))
    c.dots(x, 990, 166)
    c.dots(x, 990, 212)
    c.wrapped(x + 8, 164, p.identifying_marks, TextStyle("serif", 25, BLACK), max_x=990, pitch=46)
    c.value(735, 282, written_date(p.date_of_issue), TextStyle("serif_italic", 25, BLACK), anchor="ms")
    c.value(735, 322, "GIÁM ĐỐC CA " + _issuer_province(p), TextStyle("serif_bold", 18, INK), anchor="ms")
    c.seal(rng, "CÔNG AN " + _issuer_province(p), 700, 425, 78)
    c.value(735, 560, _signer(p), TextStyle("serif_bold", 22, BLACK), anchor="ms")


def _signer(p: Person) -> str:
    names = (
        "Nguyễn Văn Hòa",
        "Trần Đức Thắng",
        "Lê Quang Vinh",
        "Hoàng Minh Tuấn",
        "Phạm Văn Hải",
        "Võ Văn Dũng",
    )
    return names[zlib.crc32(p.issuing_province.encode()) % len(names)]


# --- CMND, 12 digits (2012) -------------------------------------------------------------------------------


def _cmnd12_front(c: Canvas, p: Person) -> None:
    c.emblem(105, 100, 76)
    _motto(c, 590, 48, english=False)
    c.label(590, 140, "CHỨNG MINH NHÂN DÂN", TextStyle("serif_bold", 30, RED), anchor="ms")
    end = c.label(400, 190, "Số:", TextStyle("serif_bold", 22, RED))
    c.value(end + 16, 192, p.id_number, TextStyle("serif_bold", 34, RED))
    x = 285
    rows = (248, 300, 348, 396, 444, 492, 540)
    end = c.label(x, rows[0], "Họ và tên:", SERIF_LABEL)
    c.dots(end + 8, 990, rows[0])
    c.value(end + 16, rows[0] - 2, p.full_name, SERIF_NAME, max_x=990)
    end = c.label(x, rows[1], "Ngày, tháng, năm sinh:", SERIF_LABEL)
    c.dots(end + 8, 990, rows[1])
    c.value(end + 16, rows[1] - 2, dmy(p.date_of_birth), SERIF_VALUE, max_x=990)
    end = c.label(x, rows[2], "Giới tính:", SERIF_LABEL)
    c.dots(end + 8, 600, rows[2])
    c.value(end + 16, rows[2] - 2, p.sex, SERIF_VALUE, max_x=600)
    end = c.label(615, rows[2], "Dân tộc:", SERIF_LABEL)
    c.dots(end + 8, 990, rows[2])
    c.value(end + 16, rows[2] - 2, p.ethnicity, SERIF_VALUE, max_x=990)
    end = c.label(x, rows[3], "Quê quán:", SERIF_LABEL)
    c.dots(end + 8, 990, rows[3])
    c.dots(x, 990, rows[4])
    c.wrapped(end + 16, rows[3] - 2, p.place_of_origin, SERIF_VALUE, max_x=990, cont_x=x + 10, pitch=48)
    end = c.label(x, rows[5], "Nơi thường trú:", SERIF_LABEL)
    c.dots(end + 8, 990, rows[5])
    c.dots(x, 990, rows[6])
    c.wrapped(end + 16, rows[5] - 2, p.place_of_residence, SERIF_VALUE, max_x=990, cont_x=x + 10, pitch=48)
    c.photo(p, (42, 200, 252, 480))
    c.label(42, 530, "Có giá trị đến:", TextStyle("serif", 18, INK))
    c.value(42, 568, expiry_text(p), TextStyle("serif_bold", 25, BLACK), max_x=265)


def _cmnd12_back(c: Canvas, p: Person) -> None:
    rng = _rng(p, "back")
    for x0, text in ((28, "Ngón trỏ trái"), (246, "Ngón trỏ phải")):
        c.box((x0, 40, x0 + 205, 330), INK, 2)
        c.label(x0 + 102, 362, text, TextStyle("serif_bold", 17, INK), anchor="ms")
        c.fingerprint(rng, (x0 + 10, 50, x0 + 195, 320))
    x = 485
    c.label(x, 70, "Đặc điểm nhận dạng:", TextStyle("serif_bold", 19, INK))
    c.dots(x, 990, 118)
    c.dots(x, 990, 164)
    c.wrapped(x + 8, 116, p.identifying_marks, TextStyle("serif", 25, BLACK), max_x=990, pitch=46)
    c.value(740, 236, written_date(p.date_of_issue), TextStyle("serif_italic", 25, BLACK), anchor="ms")
    c.label(740, 276, "GIÁM ĐỐC CÔNG AN", TextStyle("serif_bold", 18, INK), anchor="ms")
    c.value(740, 300, _issuer_province(p), TextStyle("serif_bold", 18, INK), anchor="ms")
    c.seal(rng, "CÔNG AN " + _issuer_province(p), 705, 410, 80)
    c.value(740, 550, _signer(p), TextStyle("serif_bold", 22, BLACK), anchor="ms")


# --- CCCD with barcode (2016) -----------------------------------------------------------------------------


def _cccd_barcode_front(c: Canvas, p: Person) -> None:
    c.emblem(105, 100, 76)
    _motto(c, 590, 48, english=False)
    c.label(590, 140, "CĂN CƯỚC CÔNG DÂN", TextStyle("sans_bold", 31, DARK_RED), anchor="ms")
    x = 285
    end = c.label(x, 200, "Số:", LABEL_BOLD)
    c.value(end + 16, 202, p.id_number, TextStyle("sans_bold", 33, RED))
    c.label(x, 250, "Họ và tên:")
    c.value(x, 292, p.full_name, NAME, max_x=990)
    end = c.label(x, 340, "Ngày, tháng, năm sinh:")
    c.value(end + 14, 341, dmy(p.date_of_birth))
    end = c.label(x, 386, "Giới tính:")
    c.value(end + 14, 387, p.sex, max_x=600)
    end = c.label(610, 386, "Quốc tịch:")
    c.value(end + 14, 387, p.nationality)
    end = c.label(x, 432, "Quê quán:")
    c.wrapped(end + 14, 433, p.place_of_origin, max_x=990, cont_x=x, pitch=40)
    end = c.label(x, 520, "Nơi thường trú:")
    c.wrapped(end + 14, 521, p.place_of_residence, max_x=990, cont_x=x, pitch=40)
    c.photo(p, (40, 196, 252, 478))
    c.label(40, 520, "Có giá trị đến:")
    c.value(40, 556, expiry_text(p), TextStyle("sans_bold", 24, BLACK), max_x=268)


def _cccd_barcode_back(c: Canvas, p: Person) -> None:
    rng = _rng(p, "back")
    for x0, text in ((28, "Ngón trỏ trái"), (238, "Ngón trỏ phải")):
        c.box((x0, 36, x0 + 196, 300), INK, 2)
        c.label(x0 + 98, 330, text, SMALL_BOLD, anchor="ms")
        c.fingerprint(rng, (x0 + 8, 44, x0 + 188, 292))
    # The 2-D code at the top right; what it really encodes is unconfirmed, we print the chip card's payload.
    c.qr(qr_payload(p), 818, 30, 165)
    x = 465
    c.label(x, 236, "Đặc điểm nhận dạng:")
    c.wrapped(x, 274, p.identifying_marks, TextStyle("sans", 23, BLACK), max_x=990, pitch=34)
    end = c.label(x, 354, "Ngày, tháng, năm:")
    c.value(end + 14, 355, dmy(p.date_of_issue), TextStyle("sans_bold", 24, BLACK))
    c.label(725, 398, "CỤC TRƯỞNG CỤC CẢNH SÁT", SMALL_BOLD, anchor="ms")
    c.label(725, 420, "ĐKQL CƯ TRÚ VÀ DLQG VỀ DÂN CƯ", SMALL_BOLD, anchor="ms")
    c.seal(rng, "CỤC CẢNH SÁT ĐKQL CƯ TRÚ VÀ DLQG VỀ DÂN CƯ", 690, 505, 72)
    c.value(725, 612, "Trần Văn Vệ", TextStyle("sans_bold", 20, BLACK), anchor="ms")


# --- CCCD with chip (2021) --------------------------------------------------------------------------------


def _cccd_chip_front(c: Canvas, p: Person) -> None:
    c.emblem(100, 95, 72)
    _motto(c, 540, 42, english=True)
    c.label(540, 170, "CĂN CƯỚC CÔNG DÂN", TextStyle("sans_bold", 28, DARK_RED), anchor="ms")
    c.label(540, 196, "Citizen Identity Card", TextStyle("sans_bold", 16, NAVY), anchor="ms")
    c.qr(qr_payload(p), 826, 26, 162)
    x = 285
    end = c.bilingual(x, 252, "Số", "No.")
    c.value(end + 18, 256, p.id_number, TextStyle("sans_bold", 33, BLACK))
    c.bilingual(x, 300, "Họ và tên", "Full name")
    c.value(x + 12, 342, p.full_name, NAME, max_x=990)
    end = c.bilingual(x, 388, "Ngày sinh", "Date of birth")
    c.value(end + 14, 389, dmy(p.date_of_birth))
    end = c.bilingual(x, 430, "Giới tính", "Sex")
    c.value(end + 14, 431, p.sex, max_x=600)
    end = c.bilingual(600, 430, "Quốc tịch", "Nationality")
    c.value(end + 14, 431, p.nationality)
    c.bilingual(x, 472, "Quê quán", "Place of origin")
    c.value(x, 509, p.place_of_origin, max_x=990)
    end = c.bilingual(x, 551, "Nơi thường trú", "Place of residence")
    c.wrapped(end + 14, 552, p.place_of_residence, max_x=990, cont_x=x, pitch=40)
    c.photo(p, (40, 212, 252, 492))
    c.label(40, 532, "Có giá trị đến:", TextStyle("sans", 16, INK))
    c.label(40, 552, "Date of expiry", TextStyle("sans_italic", 13, INK))
    c.value(40, 590, expiry_text(p), TextStyle("sans_bold", 24, BLACK), max_x=270)


def _cccd_chip_back(c: Canvas, p: Person) -> None:
    rng = _rng(p, "back")
    c.chip(70, 40, 132, 104)
    for x0, vi, en in (
        (592, "Ngón trỏ trái", "Left index finger"),
        (800, "Ngón trỏ phải", "Right index finger"),
    ):
        c.box((x0, 24, x0 + 186, 248), INK, 2)
        c.fingerprint(rng, (x0 + 6, 30, x0 + 180, 242))
        c.label(x0 + 93, 272, vi, SMALL_BOLD, anchor="ms")
        c.label(x0 + 93, 292, en, TextStyle("sans_italic", 13, INK), anchor="ms")
    x = 40
    c.bilingual(x, 192, "Đặc điểm nhân dạng", "Personal identification")
    c.wrapped(x, 228, p.identifying_marks, TextStyle("sans", 22, BLACK), max_x=575, pitch=32)
    end = c.bilingual(x, 310, "Ngày, tháng, năm", "Date, month, year")
    c.value(end + 14, 311, dmy(p.date_of_issue), TextStyle("sans_bold", 24, BLACK), max_x=600)
    c.label(330, 346, "CỤC TRƯỞNG CỤC CẢNH SÁT", SMALL_BOLD, anchor="ms")
    c.label(330, 366, "QUẢN LÝ HÀNH CHÍNH VỀ TRẬT TỰ XÃ HỘI", SMALL_BOLD, anchor="ms")
    c.label(330, 384, "DIRECTOR GENERAL OF THE POLICE DEPARTMENT FOR", SMALL_EN, anchor="ms")
    c.label(330, 400, "ADMINISTRATIVE MANAGEMENT OF SOCIAL ORDER", SMALL_EN, anchor="ms")
    c.seal(rng, "CỤC CẢNH SÁT QUẢN LÝ HÀNH CHÍNH VỀ TTXH", 300, 425, 52)
    c.value(330, 470, "Tô Văn Huệ", TextStyle("sans_bold", 19, BLACK), anchor="ms")
    c.lighten((0, 478, CARD_WIDTH, CARD_HEIGHT), 0.45)
    c.mrz_lines(mrz_for(p))


# --- Căn cước (2024) --------------------------------------------------------------------------------------


def _cancuoc2024_front(c: Canvas, p: Person) -> None:
    c.emblem(100, 95, 72)
    _motto(c, 560, 42, english=True)
    c.label(560, 172, "CĂN CƯỚC", TextStyle("sans_bold", 32, DARK_RED), anchor="ms")
    c.label(560, 200, "IDENTITY CARD", TextStyle("sans_bold", 17, NAVY), anchor="ms")
    c.chip(84, 510, 124, 98)
    x = 285
    c.bilingual(x, 258, "Số định danh cá nhân", "Personal identification number")
    c.value(x + 12, 304, p.id_number, TextStyle("sans_bold", 34, BLACK))
    c.bilingual(x, 354, "Họ, chữ đệm và tên khai sinh", "Full name")
    c.value(x + 12, 398, p.full_name, NAME, max_x=990)
    end = c.bilingual(x, 448, "Ngày, tháng, năm sinh", "Date of birth")
    c.value(end + 14, 449, dmy(p.date_of_birth))
    end = c.bilingual(x, 494, "Giới tính", "Sex")
    c.value(end + 14, 495, p.sex, max_x=600)
    end = c.bilingual(600, 494, "Quốc tịch", "Nationality")
    c.value(end + 14, 495, p.nationality)
    c.photo(p, (40, 212, 252, 492))


def _cancuoc2024_back(c: Canvas, p: Person) -> None:
    rng = _rng(p, "back")
    c.qr(qr_payload(p), 800, 34, 186)
    x = 40
    c.bilingual(x, 60, "Nơi cư trú", "Place of residence")
    c.wrapped(x, 98, p.place_of_residence, max_x=780, pitch=40)
    c.bilingual(x, 184, "Nơi đăng ký khai sinh", "Place of birth")
    c.wrapped(x, 222, p.place_of_origin, max_x=780, pitch=40)
    end = c.bilingual(x, 312, "Ngày, tháng, năm cấp", "Date of issue")
    c.value(end + 14, 313, dmy(p.date_of_issue), max_x=780)
    end = c.bilingual(x, 356, "Ngày, tháng, năm hết hạn", "Date of expiry")
    c.value(end + 14, 357, expiry_text(p), max_x=780)
    c.label(830, 262, "BỘ CÔNG AN", SMALL_BOLD, anchor="ms")
    c.label(830, 282, "MINISTRY OF PUBLIC SECURITY", SMALL_EN, anchor="ms")
    c.seal(rng, "BỘ CÔNG AN", 820, 372, 62)
    c.lighten((0, 478, CARD_WIDTH, CARD_HEIGHT), 0.45)
    c.mrz_lines(mrz_for(p))


DESIGNS: dict[tuple[str, str], Callable[[Canvas, Person], None]] = {
    ("cmnd9", "front"): _cmnd9_front,
    ("cmnd9", "back"): _cmnd9_back,
    ("cmnd12", "front"): _cmnd12_front,
    ("cmnd12", "back"): _cmnd12_back,
    ("cccd_barcode", "front"): _cccd_barcode_front,
    ("cccd_barcode", "back"): _cccd_barcode_back,
    ("cccd_chip", "front"): _cccd_chip_front,
    ("cccd_chip", "back"): _cccd_chip_back,
    ("cancuoc2024", "front"): _cancuoc2024_front,
    ("cancuoc2024", "back"): _cancuoc2024_back,
}


# Drives the layout pass of the blank cards; none of its values is printed there.
_LAYOUT_PERSON = Person(
    document_type="cccd_chip",
    full_name="LÊ VĂN HÙNG",
    sex="Nam",
    date_of_birth=date(1993, 8, 15),
    id_number="045093001234",
    old_id_number=None,
    birth_province_code="045",
    place_of_origin="Triệu Trung, Triệu Phong, Quảng Trị",
    place_of_residence="Khu phố 3, Phường 1, Đông Hà, Quảng Trị",
    date_of_issue=date(2021, 8, 10),
    date_of_expiry=date(2033, 8, 15),
    nationality="Việt Nam",
    ethnicity="Kinh",
    religion="Không",
    identifying_marks="Nốt ruồi C:1cm trên đuôi mắt trái",
    issuing_province="Tỉnh Quảng Trị",
    qr_name_title_case=False,
    portrait_seed=0,
)


@lru_cache(maxsize=16)
def _blank(document_type: str, side: str) -> np.ndarray:
    """The pre-printed card: background, emblem, chip, labels and the lines values are printed on."""
    canvas = Canvas(Image.fromarray(draw.guilloche(document_type, side)), static=True)
    DESIGNS[(document_type, side)](canvas, _LAYOUT_PERSON)
    return np.asarray(canvas.image)


def render_side(person: Person, document_type: str, side: str) -> RenderedCard:
    """The upright card side with everything a reader needs to know about where things are."""
    if document_type not in DOCUMENT_TYPES or side not in SIDES:
        raise ValueError(f"no design for {document_type!r} {side!r}")
    # Labels never move with the values, so one blank per design serves every holder.
    blank = _blank(document_type, side)
    canvas = Canvas(Image.fromarray(blank.copy()), static=False)
    DESIGNS[(document_type, side)](canvas, person)
    rgb = canvas.finish()
    mask = draw.card_mask()
    # Outside the rounded corners the card is not there: white, as render_card promises.
    rgb = (rgb.astype(np.float32) * (mask[..., None] / 255.0) + 255 * (1 - mask[..., None] / 255.0)).astype(np.uint8)
    return RenderedCard(
        image=np.ascontiguousarray(rgb[..., ::-1]),
        qr_box=canvas.qr_box,
        mrz=canvas.mrz,
        qr_payload=canvas.qr_payload,
    )


def render_card(person: Person, document_type: str, side: str) -> np.ndarray:
    """The canonical upright card side: BGR uint8, 1011 x 638 (ID-1 at 300 dpi), white outside the corners."""
    return render_side(person, document_type, side).image


def card_alpha() -> np.ndarray:
    """The card's outline as an alpha mask (uint8, 255 on the card, 0 outside its rounded corners)."""
    return draw.card_mask()
