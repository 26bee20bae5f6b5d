"""Synthetic card holders: names, ID numbers, dates and addresses drawn from realistic distributions."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from ocr.idnumber import PROVINCES, century_sex_digit

DOCUMENT_TYPES = ("cmnd9", "cmnd12", "cccd_barcode", "cccd_chip", "cancuoc2024")

# Issuing periods of each generation (the 2024 card up to the end of our synthetic world).
ISSUE_PERIODS: dict[str, tuple[date, date]] = {
    "cmnd9": (date(1999, 1, 1), date(2015, 12, 31)),
    "cmnd12": (date(2012, 1, 1), date(2016, 12, 31)),
    "cccd_barcode": (date(2016, 1, 1), date(2020, 12, 31)),
    "cccd_chip": (date(2021, 1, 1), date(2024, 6, 30)),
    "cancuoc2024": (date(2024, 7, 1), date(2026, 10, 31)),
}
PROVINCE_MERGER = date(2025, 7, 1)  # from here on addresses have no district level
RENEWAL_AGES = (25, 40, 60)
RENEWAL_GRACE_YEARS = 2  # a card issued within two years before a renewal age lasts to the next one

# Surname shares, roughly as published; the remainder falls on the rarer names evenly.
_SURNAMES: dict[str, float] = {
    "Nguyễn": 0.34,
    "Trần": 0.11,
    "Lê": 0.095,
    "Phạm": 0.065,
    "Hoàng": 0.045,
    "Huỳnh": 0.03,
    "Phan": 0.045,
    "Võ": 0.04,
    "Vũ": 0.025,
    "Bùi": 0.02,
    "Đặng": 0.02,
    "Đỗ": 0.015,
    "Hồ": 0.025,  # frequent in the north-central provinces around the ward
    "Ngô": 0.013,
    "Dương": 0.01,
    "Trương": 0.01,
    "Đoàn": 0.008,
    "Đinh": 0.008,
    "Trịnh": 0.006,
    "Cao": 0.006,
    "Đào": 0.006,
    "Mai": 0.005,
    "Lương": 0.005,
    "Lưu": 0.004,
    "Lâm": 0.004,
    "Lý": 0.004,
    "Nông": 0.003,
}
_MALE_MIDDLE: dict[str, float] = {
    "Văn": 0.34,
    "Minh": 0.06,
    "Thanh": 0.05,
    "Hoàng": 0.04,
    "Quốc": 0.05,
    "Đức": 0.05,
    "Quang": 0.05,
    "Hữu": 0.05,
    "Thành": 0.04,
    "Xuân": 0.04,
    "Duy": 0.03,
    "Đình": 0.04,
    "Trung": 0.02,
    "Tuấn": 0.02,
    "Tấn": 0.02,
    "Công": 0.03,
    "Trọng": 0.02,
    "Thế": 0.02,
    "Bảo": 0.02,
    "Gia": 0.02,
    "Anh": 0.015,
    "Ngọc": 0.015,
}
_FEMALE_MIDDLE: dict[str, float] = {
    "Thị": 0.5,
    "Ngọc": 0.07,
    "Thanh": 0.06,
    "Thu": 0.06,
    "Hồng": 0.05,
    "Kim": 0.05,
    "Mỹ": 0.04,
    "Minh": 0.04,
    "Xuân": 0.04,
    "Bảo": 0.03,
    "Anh": 0.03,
    "Hoàng": 0.03,
}
# The second middle word of four-word names (mostly women: "Thị Thanh", "Ngọc Bảo").
_SECOND_MIDDLE = (
    "Thanh",
    "Thu",
    "Kim",
    "Ngọc",
    "Mỹ",
    "Hồng",
    "Bảo",
    "Minh",
    "Phương",
    "Diệu",
    "Quỳnh",
    "Hoài",
)
# Given names shift with the generations: older holders carry the classic ones.
_FEMALE_GIVEN_OLDER = (
    "Lan", "Hoa", "Mai", "Hạnh", "Hương", "Hằng", "Yến", "Hiền", "Huyền", "Trang", "Phương", "Thảo", "Ngân",
    "Linh", "Loan", "Nga", "Tuyết", "Sương", "Liên", "Nhung",
)  # fmt: skip
_FEMALE_GIVEN_YOUNGER = (
    "Anh", "Vy", "Ngọc", "Nhi", "Hân", "Thư", "Như", "My", "Trân", "Quỳnh", "Trâm", "An", "Châu", "Linh",
    "Ngân", "Phương", "Thảo", "Trang", "Huyền", "Hương",
)  # fmt: skip
_MALE_GIVEN_OLDER = (
    "Hùng", "Dũng", "Sơn", "Hải", "Bình", "Thắng", "Tùng", "Thành", "Trung", "Long", "Đức", "Tâm", "Tiến",
    "Cường", "Vinh", "Hưng", "Lâm", "Phong", "Nam", "Minh", "Quân",
)  # fmt: skip
_MALE_GIVEN_YOUNGER = (
    "Anh", "Huy", "Tuấn", "Duy", "Hoàng", "Nam", "Minh", "Hiếu", "Đạt", "Khoa", "Phúc", "Thịnh", "Khánh",
    "Quân", "Nguyên", "Vũ", "Long", "Bảo", "Hưng", "Tùng", "Thắng",
)  # fmt: skip


@dataclass(frozen=True)
class District:
    """A district (or city/town at district level) and its wards/communes, with their type prefixes."""

    name: str  # "Thành phố Đông Hà", "Huyện Triệu Phong"
    wards: tuple[str, ...]  # "Phường 1", "Xã Triệu Trung", "Thị trấn Ái Tử"
    urban: bool


def _d(name: str, *wards: str, urban: bool | None = None) -> District:
    is_urban = urban if urban is not None else not name.startswith("Huyện")
    return District(name, wards, is_urban)


# A small gazetteer of the ward's region and the provinces people most often come from (pre-2025 units).
GAZETTEER: dict[str, tuple[str, tuple[District, ...]]] = {
    "045": (
        "Tỉnh Quảng Trị",
        (
            _d(
                "Thành phố Đông Hà",
                *(f"Phường {n}" for n in range(1, 6)),
                "Phường Đông Giang",
                "Phường Đông Lễ",
                "Phường Đông Lương",
                "Phường Đông Thanh",
            ),
            _d("Thị xã Quảng Trị", "Phường 1", "Phường 2", "Phường 3", "Phường An Đôn", "Xã Hải Lệ"),
            _d(
                "Huyện Triệu Phong",
                "Thị trấn Ái Tử",
                "Xã Triệu Ái",
                "Xã Triệu Giang",
                "Xã Triệu Thượng",
                "Xã Triệu Long",
                "Xã Triệu Thành",
                "Xã Triệu Đông",
                "Xã Triệu Trung",
                "Xã Triệu Độ",
                "Xã Triệu Hòa",
                "Xã Triệu Phước",
            ),
            _d(
                "Huyện Gio Linh",
                "Thị trấn Gio Linh",
                "Thị trấn Cửa Việt",
                "Xã Gio Mỹ",
                "Xã Gio Châu",
                "Xã Gio Quang",
                "Xã Gio Sơn",
                "Xã Gio Hải",
                "Xã Trung Sơn",
            ),
            _d(
                "Huyện Vĩnh Linh",
                "Thị trấn Hồ Xá",
                "Thị trấn Cửa Tùng",
                "Xã Vĩnh Thạch",
                "Xã Vĩnh Kim",
                "Xã Vĩnh Tú",
                "Xã Vĩnh Hòa",
                "Xã Vĩnh Long",
            ),
            _d(
                "Huyện Hải Lăng",
                "Thị trấn Diên Sanh",
                "Xã Hải Phú",
                "Xã Hải Thượng",
                "Xã Hải Quế",
                "Xã Hải Ba",
            ),
            _d(
                "Huyện Cam Lộ",
                "Thị trấn Cam Lộ",
                "Xã Cam Thành",
                "Xã Cam Hiếu",
                "Xã Cam Thủy",
                "Xã Cam Tuyền",
            ),
            _d("Huyện Hướng Hóa", "Thị trấn Khe Sanh", "Thị trấn Lao Bảo", "Xã Tân Hợp", "Xã Hướng Phùng"),
            _d("Huyện Đakrông", "Thị trấn Krông Klang", "Xã Mò Ó", "Xã Triệu Nguyên", "Xã Ba Lòng"),
        ),
    ),
    "046": (
        "Tỉnh Thừa Thiên Huế",
        (
            _d(
                "Thành phố Huế",
                "Phường Phú Hội",
                "Phường Vĩnh Ninh",
                "Phường An Cựu",
                "Phường Thuận Thành",
                "Phường Phú Nhuận",
                "Phường Xuân Phú",
                "Phường Vỹ Dạ",
                "Phường Kim Long",
            ),
            _d("Huyện Phong Điền", "Thị trấn Phong Điền", "Xã Phong Hòa", "Xã Phong Hiền", "Xã Điền Hải"),
            _d("Thị xã Hương Trà", "Phường Tứ Hạ", "Phường Hương Văn", "Xã Hương Toàn"),
            _d("Huyện Quảng Điền", "Thị trấn Sịa", "Xã Quảng Phước", "Xã Quảng An"),
        ),
    ),
    "044": (
        "Tỉnh Quảng Bình",
        (
            _d(
                "Thành phố Đồng Hới",
                "Phường Đồng Phú",
                "Phường Hải Thành",
                "Phường Nam Lý",
                "Phường Bắc Lý",
                "Phường Đức Ninh Đông",
            ),
            _d("Huyện Bố Trạch", "Thị trấn Hoàn Lão", "Xã Nhân Trạch", "Xã Đại Trạch", "Xã Hải Phú"),
            _d("Huyện Lệ Thủy", "Thị trấn Kiến Giang", "Xã Hồng Thủy", "Xã Phong Thủy", "Xã Sen Thủy"),
            _d("Huyện Quảng Ninh", "Thị trấn Quán Hàu", "Xã Gia Ninh", "Xã Võ Ninh"),
        ),
    ),
    "040": (
        "Tỉnh Nghệ An",
        (
            _d(
                "Thành phố Vinh",
                "Phường Hưng Bình",
                "Phường Lê Lợi",
                "Phường Quang Trung",
                "Phường Trường Thi",
                "Phường Bến Thủy",
            ),
            _d("Huyện Diễn Châu", "Thị trấn Diễn Châu", "Xã Diễn Hồng", "Xã Diễn Kỷ"),
            _d("Huyện Quỳnh Lưu", "Thị trấn Cầu Giát", "Xã Quỳnh Đôi", "Xã Quỳnh Hồng"),
            _d("Huyện Nam Đàn", "Thị trấn Nam Đàn", "Xã Kim Liên"),
        ),
    ),
    "042": (
        "Tỉnh Hà Tĩnh",
        (
            _d("Thành phố Hà Tĩnh", "Phường Bắc Hà", "Phường Nam Hà", "Phường Trần Phú", "Phường Thạch Linh"),
            _d("Huyện Can Lộc", "Thị trấn Nghèn", "Xã Thiên Lộc", "Xã Vượng Lộc"),
            _d("Huyện Cẩm Xuyên", "Thị trấn Cẩm Xuyên", "Xã Cẩm Bình"),
        ),
    ),
    "038": (
        "Tỉnh Thanh Hóa",
        (
            _d("Thành phố Thanh Hóa", "Phường Điện Biên", "Phường Lam Sơn", "Phường Ba Đình"),
            _d("Huyện Hoằng Hóa", "Thị trấn Bút Sơn", "Xã Hoằng Đạo"),
        ),
    ),
    "001": (
        "Thành phố Hà Nội",
        (
            _d("Quận Ba Đình", "Phường Phúc Xá", "Phường Trúc Bạch", "Phường Kim Mã", "Phường Ngọc Hà"),
            _d("Quận Cầu Giấy", "Phường Dịch Vọng", "Phường Nghĩa Đô", "Phường Quan Hoa", "Phường Yên Hòa"),
            _d("Quận Đống Đa", "Phường Láng Hạ", "Phường Văn Miếu", "Phường Kim Liên", "Phường Ô Chợ Dừa"),
            _d("Quận Hoàng Mai", "Phường Định Công", "Phường Tương Mai"),
            _d("Huyện Gia Lâm", "Thị trấn Trâu Quỳ", "Xã Bát Tràng"),
        ),
    ),
    "079": (
        "Thành phố Hồ Chí Minh",
        (
            _d("Quận 1", "Phường Bến Nghé", "Phường Bến Thành", "Phường Đa Kao", "Phường Tân Định"),
            _d("Quận 3", "Phường Võ Thị Sáu", "Phường 4", "Phường 5", "Phường 9"),
            _d("Quận Bình Thạnh", "Phường 25", "Phường 26", "Phường 13"),
            _d("Quận Gò Vấp", "Phường 10", "Phường 5", "Phường 17"),
            _d("Thành phố Thủ Đức", "Phường Linh Trung", "Phường Hiệp Phú", "Phường Thảo Điền"),
        ),
    ),
    "048": (
        "Thành phố Đà Nẵng",
        (
            _d("Quận Hải Châu", "Phường Thạch Thang", "Phường Hòa Cường Bắc", "Phường Phước Ninh"),
            _d("Quận Thanh Khê", "Phường Chính Gián", "Phường Thạc Gián", "Phường An Khê"),
            _d("Quận Sơn Trà", "Phường An Hải Bắc", "Phường Mân Thái"),
            _d("Huyện Hòa Vang", "Xã Hòa Phong", "Xã Hòa Tiến"),
        ),
    ),
    "049": (
        "Tỉnh Quảng Nam",
        (
            _d("Thành phố Tam Kỳ", "Phường An Mỹ", "Phường Tân Thạnh"),
            _d("Thành phố Hội An", "Phường Minh An", "Phường Cẩm Phô"),
            _d("Thị xã Điện Bàn", "Phường Vĩnh Điện", "Xã Điện Hòa"),
        ),
    ),
    "036": (
        "Tỉnh Nam Định",
        (
            _d("Thành phố Nam Định", "Phường Trần Hưng Đạo", "Phường Vị Xuyên"),
            _d("Huyện Hải Hậu", "Thị trấn Yên Định", "Xã Hải Minh"),
        ),
    ),
    "034": (
        "Tỉnh Thái Bình",
        (
            _d("Thành phố Thái Bình", "Phường Lê Hồng Phong", "Phường Bồ Xuyên"),
            _d("Huyện Vũ Thư", "Thị trấn Vũ Thư", "Xã Song Lãng"),
        ),
    ),
    "092": (
        "Thành phố Cần Thơ",
        (
            _d("Quận Ninh Kiều", "Phường An Hòa", "Phường Xuân Khánh", "Phường Tân An"),
            _d("Quận Cái Răng", "Phường Lê Bình"),
        ),
    ),
    "066": (
        "Tỉnh Đắk Lắk",
        (
            _d("Thành phố Buôn Ma Thuột", "Phường Tân Lợi", "Phường Thắng Lợi", "Phường Tân Thành"),
            _d("Huyện Krông Pắc", "Thị trấn Phước An"),
        ),
    ),
    "052": (
        "Tỉnh Bình Định",
        (
            _d("Thành phố Quy Nhơn", "Phường Lê Lợi", "Phường Trần Phú", "Phường Nhơn Bình"),
            _d("Huyện Tuy Phước", "Thị trấn Tuy Phước"),
        ),
    ),
    "031": (
        "Thành phố Hải Phòng",
        (
            _d("Quận Lê Chân", "Phường An Biên", "Phường Dư Hàng"),
            _d("Quận Ngô Quyền", "Phường Máy Tơ"),
        ),
    ),
}
# Where the holders of a ward in Đông Hà come from.
_HOME_WEIGHTS: dict[str, float] = {
    "045": 0.55,
    "044": 0.07,
    "046": 0.07,
    "040": 0.05,
    "042": 0.04,
    "001": 0.05,
    "079": 0.04,
    "048": 0.03,
}
# From 1 July 2025 provinces merged; newer cards name the merged province in the residence (unsure per unit).
_MERGED_PROVINCE: dict[str, str] = {
    "Tỉnh Quảng Bình": "Tỉnh Quảng Trị",
    "Tỉnh Thừa Thiên Huế": "Thành phố Huế",
    "Tỉnh Quảng Nam": "Thành phố Đà Nẵng",
    "Tỉnh Nam Định": "Tỉnh Ninh Bình",
    "Tỉnh Thái Bình": "Tỉnh Hưng Yên",
    "Tỉnh Bình Định": "Tỉnh Gia Lai",
}
_STREETS = (
    "Lê Lợi", "Hùng Vương", "Trần Hưng Đạo", "Nguyễn Huệ", "Quang Trung", "Lý Thường Kiệt", "Hai Bà Trưng",
    "Phan Bội Châu", "Nguyễn Trãi", "Lê Duẩn", "Trần Phú", "Ngô Quyền", "Điện Biên Phủ", "Nguyễn Du",
    "Tôn Đức Thắng", "Lê Thánh Tôn", "Phan Chu Trinh", "Trường Chinh", "Hàm Nghi", "Nguyễn Thị Minh Khai",
)  # fmt: skip
_VILLAGES = (
    "An Hưng", "Phú Hưng", "Đại Hào", "Vân Tường", "Trung Chỉ", "Bích La", "Nại Cửu", "An Mô", "Hà Thượng",
    "Lập Thạch", "Thanh Lê", "Phước Thị", "Tường Vân", "Phú Lễ", "Long Quang", "Đông Dương", "Mai Xá",
    "Hà Trung", "Xuân Lộc", "Bắc Phước",
)  # fmt: skip
_ETHNICITIES = {"Kinh": 0.9, "Vân Kiều": 0.04, "Pa Kô": 0.02, "Tày": 0.015, "Thái": 0.015, "Mường": 0.01}
_RELIGIONS = {"Không": 0.86, "Phật giáo": 0.07, "Công giáo": 0.06, "Tin lành": 0.01}
_MARK_KINDS = ("Nốt ruồi", "Sẹo chấm", "Sẹo")
_MARK_PLACES = (
    "đuôi mắt trái", "đuôi mắt phải", "đầu mày trái", "đầu mày phải", "cánh mũi trái", "cánh mũi phải",
    "mép trái", "mép phải", "trán",
)  # fmt: skip
# First digits of the 9-digit CMND by issuing police (no personal meaning; plausible values, unsure).
_CMND_PREFIX: dict[str, str] = {
    "045": "197",
    "044": "194",
    "046": "191",
    "040": "18",
    "042": "18",
    "038": "17",
    "001": "01",
    "079": "02",
    "048": "20",
    "049": "20",
    "031": "03",
    "036": "16",
    "034": "15",
    "092": "36",
    "066": "24",
    "052": "21",
}


@dataclass(frozen=True)
class Person:
    """One card holder and the card's printed values (the generation fixes which of them are shown)."""

    document_type: str
    full_name: str  # upper case, NFC
    sex: str  # "Nam" or "Nữ"
    date_of_birth: date
    id_number: str  # 9 digits on cmnd9, else the 12-digit personal ID
    old_id_number: str | None  # the previous 9-digit CMND where the card's QR carries it
    birth_province_code: str
    place_of_origin: str  # Quê quán / Nguyên quán, or the 2024 card's place of birth registration
    place_of_residence: str
    date_of_issue: date
    date_of_expiry: date | None  # None: "Không thời hạn", or the cmnd9 that prints none
    nationality: str
    ethnicity: str
    religion: str
    identifying_marks: str
    issuing_province: str  # the province whose police issued the card, e.g. "Tỉnh Quảng Trị"
    qr_name_title_case: bool  # some QR codes carry the name in title case
    portrait_seed: int


def _choice(rng: np.random.Generator, weights: dict[str, float]) -> str:
    names = list(weights)
    p = np.array([weights[name] for name in names], dtype=float)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def _pick(rng: np.random.Generator, options: tuple[str, ...] | list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def make_full_name(rng: np.random.Generator, sex: str, birth_year: int) -> str:
    """Surname, one or two middle names and a given name, upper case with diacritics, NFC."""
    surname = _choice(rng, _SURNAMES)
    younger = birth_year >= 1985 + int(rng.integers(-8, 9))
    if sex == "Nữ":
        middle = [_choice(rng, _FEMALE_MIDDLE)]
        if rng.random() < 0.4:  # women's names are often four words
            middle.append(_pick(rng, [m for m in _SECOND_MIDDLE if m not in middle]))
        given = _pick(rng, _FEMALE_GIVEN_YOUNGER if younger else _FEMALE_GIVEN_OLDER)
    else:
        middle = [_choice(rng, _MALE_MIDDLE)]
        if rng.random() < 0.08:
            middle.append(_pick(rng, ("Minh", "Bảo", "Quốc", "Anh", "Gia", "Hoàng")))
        given = _pick(rng, _MALE_GIVEN_YOUNGER if younger else _MALE_GIVEN_OLDER)
    if given in middle:
        middle = [m for m in middle if m != given] or ["Văn" if sex == "Nam" else "Thị"]
    words = [surname, *middle, given]
    return unicodedata.normalize("NFC", " ".join(words).upper())


def _short_unit(name: str) -> str:
    """Drop the unit type the way cards abbreviate ("Xã Triệu Trung" -> "Triệu Trung"), keeping "Phường 1"."""
    for prefix in ("Thành phố ", "Thị xã ", "Thị trấn ", "Huyện ", "Quận ", "Tỉnh ", "Phường ", "Xã "):
        if name.startswith(prefix):
            rest = name[len(prefix) :]
            return name if rest.isdigit() else rest
    return name


@dataclass(frozen=True)
class Address:
    """A place in the gazetteer, with an optional street or village line."""

    locality: str | None  # "Thôn An Hưng", "Khu phố 3", "45 Lê Lợi"
    ward: str
    district: District
    province: str  # "Tỉnh Quảng Trị"

    def format(self, style: str) -> str:
        """'full': every unit with its type; 'short': units without their types; 'merged': post-2025."""
        if style == "merged":
            parts = [self.locality, self.ward, _MERGED_PROVINCE.get(self.province, self.province)]
        elif style == "full":
            parts = [self.locality, self.ward, self.district.name, self.province]
        else:
            parts = [self.locality, _short_unit(self.ward), _short_unit(self.district.name)]
            parts.append(_short_unit(self.province))
        return ", ".join(part for part in parts if part)


def make_address(rng: np.random.Generator, province_code: str, *, with_locality: bool = True) -> Address:
    """A plausible address in a province of the gazetteer."""
    province, districts = GAZETTEER[province_code]
    district = districts[int(rng.integers(len(districts)))]
    ward = _pick(rng, district.wards)
    locality: str | None = None
    if with_locality:
        if ward.startswith(("Phường", "Thị trấn")):
            roll = rng.random()
            if roll < 0.4:
                locality = f"{int(rng.integers(1, 300))} {_pick(rng, _STREETS)}"
            elif roll < 0.55:
                locality = f"Kiệt {int(rng.integers(2, 120))} {_pick(rng, _STREETS)}"
            elif roll < 0.8:
                locality = f"Khu phố {int(rng.integers(1, 12))}"
            else:
                locality = f"Tổ {int(rng.integers(1, 25))}"
        else:
            roll = rng.random()
            if roll < 0.65:
                locality = f"Thôn {_pick(rng, _VILLAGES)}"
            elif roll < 0.85:
                locality = f"Thôn {int(rng.integers(1, 12))}"
            else:
                locality = f"Xóm {int(rng.integers(1, 15))}"
    return Address(locality, ward, district, province)


def _home_province(rng: np.random.Generator) -> str:
    weights = dict(_HOME_WEIGHTS)
    rest = [code for code in GAZETTEER if code not in weights]
    remaining = max(0.0, 1.0 - sum(weights.values()))
    for code in rest:
        weights[code] = remaining / len(rest)
    return _choice(rng, weights)


def birthday_at(date_of_birth: date, age: int) -> date:
    """The holder's birthday at an age (29 February falls back to the 28th)."""
    try:
        return date_of_birth.replace(year=date_of_birth.year + age)
    except ValueError:
        return date(date_of_birth.year + age, 2, 28)


def age_on(date_of_birth: date, day: date) -> int:
    """Completed years of age on a day."""
    return day.year - date_of_birth.year - ((day.month, day.day) < (date_of_birth.month, date_of_birth.day))


def expiry_for(date_of_birth: date, date_of_issue: date) -> date | None:
    """The renewal rule: the birthday at the next of ages 25, 40, 60 after issue; none from 60 on.

    The law (Luật Căn cước công dân 2014, art. 21) adds that a card issued within two years before a renewal
    age stays valid until the following one, so no card is printed to expire within two years of its issue.
    """
    age = age_on(date_of_birth, date_of_issue)
    for renewal_age in RENEWAL_AGES:
        if age < renewal_age - RENEWAL_GRACE_YEARS:
            return birthday_at(date_of_birth, renewal_age)
    return None


def _random_date(rng: np.random.Generator, first: date, last: date) -> date:
    return first + timedelta(days=int(rng.integers(0, (last - first).days + 1)))


def _age_at_issue(rng: np.random.Generator) -> int:
    # Bands so that every renewal case (25, 40, 60, none) shows up often enough to be tested.
    band = int(rng.choice(4, p=[0.3, 0.3, 0.25, 0.15]))
    low, high = ((14, 24), (25, 39), (40, 59), (60, 82))[band]
    return int(rng.integers(low, high + 1))


def make_personal_id(rng: np.random.Generator, province_code: str, sex: str, year: int) -> str:
    """PPP G YY RRRRRR, consistent with province, sex, century and birth year."""
    return f"{province_code}{century_sex_digit(year, sex)}{year % 100:02d}{int(rng.integers(0, 1_000_000)):06d}"


def make_cmnd_number(rng: np.random.Generator, province_code: str) -> str:
    """A 9-digit CMND number starting with the issuing police's prefix."""
    prefix = _CMND_PREFIX.get(province_code, f"{int(rng.integers(1, 39)):02d}")
    digits = "".join(str(int(d)) for d in rng.integers(0, 10, size=9 - len(prefix)))
    return prefix + digits


def _identifying_marks(rng: np.random.Generator) -> str:
    kind = _pick(rng, _MARK_KINDS)
    distance = _pick(rng, ("0,5", "1", "1,5", "2", "2,5", "3"))
    direction = _pick(rng, ("trên", "dưới", "trên sau", "dưới trước", "trước", "sau"))
    return f"{kind} C:{distance}cm {direction} {_pick(rng, _MARK_PLACES)}"


def make_person(rng: np.random.Generator, document_type: str) -> Person:
    """A holder with values consistent with each other and with the generation's issuing period."""
    if document_type not in DOCUMENT_TYPES:
        raise ValueError(f"unknown document type {document_type!r}")
    first, last = ISSUE_PERIODS[document_type]
    date_of_issue = _random_date(rng, first, last)
    age = _age_at_issue(rng)
    date_of_birth = date_of_issue - timedelta(days=int(365.25 * age + rng.integers(1, 360)))
    if age_on(date_of_birth, date_of_issue) < 14:  # leap-day arithmetic may shave a year
        date_of_birth = date_of_birth.replace(year=date_of_birth.year - 1, day=min(date_of_birth.day, 28))
    sex = "Nữ" if rng.random() < 0.5 else "Nam"
    full_name = make_full_name(rng, sex, date_of_birth.year)

    birth_province = _home_province(rng)
    # Most holders live where the ward is; the rest where they were born.
    residence_province = "045" if rng.random() < 0.75 else birth_province
    origin = make_address(rng, birth_province, with_locality=False)
    residence = make_address(rng, residence_province)
    if document_type == "cancuoc2024":
        place_of_origin = origin.format("full")
        style = "merged" if date_of_issue >= PROVINCE_MERGER else "full"
        place_of_residence = residence.format(style)
    else:
        place_of_origin = origin.format("short" if rng.random() < 0.7 else "full")
        place_of_residence = residence.format("short" if rng.random() < 0.5 else "full")

    personal_id = make_personal_id(rng, birth_province, sex, date_of_birth.year)
    old_cmnd = make_cmnd_number(rng, residence_province)
    if document_type == "cmnd9":
        id_number, old_id_number = old_cmnd, None
    elif document_type == "cmnd12":
        id_number, old_id_number = personal_id, None
    else:
        id_number = personal_id
        # The QR often leaves the old number empty; older holders more often had a CMND to carry over.
        carried = rng.random() < (0.45 if age >= 20 else 0.1)
        old_id_number = old_cmnd if carried else None

    expiry = None if document_type == "cmnd9" else expiry_for(date_of_birth, date_of_issue)
    issuing_province = GAZETTEER[residence_province][0]
    return Person(
        document_type=document_type,
        full_name=full_name,
        sex=sex,
        date_of_birth=date_of_birth,
        id_number=id_number,
        old_id_number=old_id_number,
        birth_province_code=birth_province,
        place_of_origin=place_of_origin,
        place_of_residence=place_of_residence,
        date_of_issue=date_of_issue,
        date_of_expiry=expiry,
        nationality="Việt Nam",
        ethnicity=_choice(rng, _ETHNICITIES),
        religion=_choice(rng, _RELIGIONS),
        identifying_marks=_identifying_marks(rng),
        issuing_province=issuing_province,
        qr_name_title_case=bool(rng.random() < 0.2),
        portrait_seed=int(rng.integers(0, 2**31 - 1)),
    )


def province_name(code: str) -> str:
    """The province a code names (for messages and tests)."""
    return PROVINCES[code]
