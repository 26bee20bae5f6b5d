"""The 12-digit personal ID number (PPP G YY RRRRRR): provinces, sex and century digit, decoding."""

from __future__ import annotations

from dataclasses import dataclass

# Birth-registration province codes as they stood before the 2025 merger; a number keeps its code for life.
PROVINCES: dict[str, str] = {
    "001": "Hà Nội",
    "002": "Hà Giang",
    "004": "Cao Bằng",
    "006": "Bắc Kạn",
    "008": "Tuyên Quang",
    "010": "Lào Cai",
    "011": "Điện Biên",
    "012": "Lai Châu",
    "014": "Sơn La",
    "015": "Yên Bái",
    "017": "Hòa Bình",
    "019": "Thái Nguyên",
    "020": "Lạng Sơn",
    "022": "Quảng Ninh",
    "024": "Bắc Giang",
    "025": "Phú Thọ",
    "026": "Vĩnh Phúc",
    "027": "Bắc Ninh",
    "030": "Hải Dương",
    "031": "Hải Phòng",
    "033": "Hưng Yên",
    "034": "Thái Bình",
    "035": "Hà Nam",
    "036": "Nam Định",
    "037": "Ninh Bình",
    "038": "Thanh Hóa",
    "040": "Nghệ An",
    "042": "Hà Tĩnh",
    "044": "Quảng Bình",
    "045": "Quảng Trị",
    "046": "Thừa Thiên Huế",
    "048": "Đà Nẵng",
    "049": "Quảng Nam",
    "051": "Quảng Ngãi",
    "052": "Bình Định",
    "054": "Phú Yên",
    "056": "Khánh Hòa",
    "058": "Ninh Thuận",
    "060": "Bình Thuận",
    "062": "Kon Tum",
    "064": "Gia Lai",
    "066": "Đắk Lắk",
    "067": "Đắk Nông",
    "068": "Lâm Đồng",
    "070": "Bình Phước",
    "072": "Tây Ninh",
    "074": "Bình Dương",
    "075": "Đồng Nai",
    "077": "Bà Rịa - Vũng Tàu",
    "079": "Hồ Chí Minh",
    "080": "Long An",
    "082": "Tiền Giang",
    "083": "Bến Tre",
    "084": "Trà Vinh",
    "086": "Vĩnh Long",
    "087": "Đồng Tháp",
    "089": "An Giang",
    "091": "Kiên Giang",
    "092": "Cần Thơ",
    "093": "Hậu Giang",
    "094": "Sóc Trăng",
    "095": "Bạc Liêu",
    "096": "Cà Mau",
}

SEXES = ("Nam", "Nữ")
_FIRST_CENTURY = 1900  # G = 0/1 for births 1900-1999


class IdNumberError(ValueError):
    """A string is not a well-formed 12-digit personal ID number."""


@dataclass(frozen=True)
class IdNumberInfo:
    """What a 12-digit ID number says about its holder."""

    province_code: str
    province_name: str | None  # None: a code outside the 63 provinces (e.g. a birth registered abroad)
    sex: str  # "Nam" or "Nữ"
    birth_year: int


def century_sex_digit(year: int, sex: str) -> int:
    """The G digit: 0/1 male/female born 1900-1999, 2/3 for the 2000s, and so on."""
    if sex not in SEXES:
        raise IdNumberError(f"sex {sex!r} is neither 'Nam' nor 'Nữ'")
    century = (year - _FIRST_CENTURY) // 100
    if not 0 <= century <= 4:
        raise IdNumberError(f"year {year} is outside the range an ID number can encode")
    return century * 2 + (1 if sex == "Nữ" else 0)


def decode_id_number(s: str) -> IdNumberInfo:
    """Province, sex and birth year from a 12-digit ID number; IdNumberError if it is malformed."""
    if len(s) != 12 or not (s.isascii() and s.isdigit()):
        raise IdNumberError(f"{s!r} is not a 12-digit ID number")
    province_code, g, yy = s[:3], int(s[3]), int(s[4:6])
    return IdNumberInfo(
        province_code=province_code,
        province_name=PROVINCES.get(province_code),
        sex="Nữ" if g % 2 else "Nam",
        birth_year=_FIRST_CENTURY + (g // 2) * 100 + yy,
    )
