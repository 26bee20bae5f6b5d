"""Drawing primitives for synthetic cards: fonts, guilloche, emblem, portrait, fingerprints, seals, QR."""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import cv2
import numpy as np
import segno
from PIL import Image, ImageDraw, ImageFilter, ImageFont

CARD_WIDTH = 1011  # ID-1 (85.6 x 53.98 mm) at 300 dpi
CARD_HEIGHT = 638
CARD_DPI = 300
CORNER_RADIUS = 37  # ISO 7810: 3.18 mm
PX_PER_MM = CARD_DPI / 25.4

_FONT_DIRS = (Path("/usr/share/fonts/truetype/noto"), Path("/usr/share/fonts/truetype/dejavu"))
FONT_FILES: dict[str, str] = {
    "sans": "NotoSans-Regular.ttf",
    "sans_bold": "NotoSans-Bold.ttf",
    "sans_italic": "NotoSans-Italic.ttf",
    "sans_bold_italic": "NotoSans-BoldItalic.ttf",
    "serif": "NotoSerif-Regular.ttf",
    "serif_bold": "NotoSerif-Bold.ttf",
    "serif_italic": "NotoSerif-Italic.ttf",
    "dejavu_bold": "DejaVuSans-Bold.ttf",
    "condensed_bold": "DejaVuSansCondensed-Bold.ttf",
    "condensed": "DejaVuSansCondensed.ttf",
}
OCRB_FONT = Path("/usr/share/fonts/opentype/ocr-b/OCRB.otf")

Color = tuple[int, int, int]
BLACK: Color = (25, 25, 30)
INK: Color = (40, 40, 48)
RED: Color = (205, 32, 38)
DARK_RED: Color = (170, 25, 35)
NAVY: Color = (30, 50, 110)


class FontMissingError(RuntimeError):
    """A font the synthetic cards need is not installed (Debian: fonts-noto-core, fonts-dejavu-core)."""


def _font_path(style: str) -> Path:
    if style == "ocrb":
        if OCRB_FONT.exists():
            return OCRB_FONT
        raise FontMissingError(f"{OCRB_FONT} is missing (Debian package fonts-ocr-b)")
    name = FONT_FILES[style]
    for folder in _FONT_DIRS:
        if (folder / name).exists():
            return folder / name
    raise FontMissingError(f"font {name} not found under {', '.join(map(str, _FONT_DIRS))}")


@cache
def _cap_ratio(style: str) -> float:
    probe = ImageFont.truetype(str(_font_path(style)), 200)
    top = probe.getbbox("H", anchor="ls")[1]
    return -top / 200


@lru_cache(maxsize=512)
def font(style: str, cap_px: float) -> ImageFont.FreeTypeFont:
    """A font sized by its capital height in pixels (how card text sizes are specified)."""
    size = max(6, round(cap_px / _cap_ratio(style)))
    return ImageFont.truetype(str(_font_path(style)), size)


def text_width(text: str, style: str, cap_px: float) -> float:
    return float(font(style, cap_px).getlength(text))


@dataclass(frozen=True)
class TextStyle:
    """How one kind of text is printed on a card."""

    font: str
    cap: float  # capital height, px at 300 dpi
    color: Color = BLACK


def draw_text(
    draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, style: TextStyle, anchor: str = "ls"
) -> float:
    """Draw text on its baseline; return the x where it ends."""
    face = font(style.font, style.cap)
    draw.text(xy, text, font=face, fill=style.color, anchor=anchor)
    width = face.getlength(text)
    if anchor[0] == "m":
        return xy[0] + width / 2
    if anchor[0] == "r":
        return xy[0]
    return xy[0] + width


def fit_style(text: str, style: TextStyle, max_width: float, min_scale: float = 0.72) -> TextStyle:
    """The style shrunk (then condensed) until the text fits: long names and addresses do on real cards."""
    scale = 1.0
    while scale > min_scale and text_width(text, style.font, style.cap * scale) > max_width:
        scale -= 0.03
    fitted = TextStyle(style.font, style.cap * scale, style.color)
    if text_width(text, fitted.font, fitted.cap) > max_width:
        # Then a condensed face, shrunk as far as needed (long addresses: the print gets small, not cut).
        condensed = "condensed_bold" if "bold" in style.font else "condensed"
        width = text_width(text, condensed, style.cap * min_scale)
        fitted = TextStyle(condensed, style.cap * min_scale * min(1.0, 0.98 * max_width / width), style.color)
    return fitted


def wrap_words(text: str, style: TextStyle, first_width: float, width: float, max_lines: int) -> list[str]:
    """Greedy word wrap with a shorter first line (a value that starts after its label)."""
    words = text.split()
    lines: list[str] = []
    current = ""
    for word in words:
        candidate = f"{current} {word}".strip()
        limit = first_width if not lines else width
        if current and text_width(candidate, style.font, style.cap) > limit and len(lines) < max_lines - 1:
            lines.append(current)
            current = word
        else:
            current = candidate
    lines.append(current)
    if lines and not lines[0] and len(lines) > 1:
        lines = lines[1:]
    return lines


def dotted_line(draw: ImageDraw.ImageDraw, x0: float, x1: float, y: float, color: Color = INK) -> None:
    """The pre-printed dotted line a CMND value is typed on."""
    x = x0
    while x < x1:
        draw.ellipse((x - 1.1, y - 1.1, x + 1.1, y + 1.1), fill=color)
        x += 7.0


# --- background -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Palette:
    """The pale print colours of one card generation."""

    base: Color  # RGB
    waves: tuple[Color, ...]
    rosette: Color
    glow: Color  # a soft central tint


PALETTES: dict[str, Palette] = {
    "cmnd9": Palette(
        (218, 232, 230), ((150, 195, 205), (170, 210, 180), (200, 175, 200)), (160, 200, 190), (238, 240, 220)
    ),
    "cmnd12": Palette((220, 230, 236), ((155, 185, 220), (175, 210, 190)), (175, 195, 225), (236, 236, 222)),
    "cccd_barcode": Palette(
        (222, 231, 240), ((165, 190, 230), (235, 180, 190), (190, 215, 200)), (200, 180, 215), (246, 232, 226)
    ),
    "cccd_chip": Palette(
        (226, 233, 242), ((170, 195, 230), (240, 180, 180), (200, 210, 230)), (235, 185, 170), (248, 236, 230)
    ),
    "cancuoc2024": Palette(
        (224, 231, 241), ((160, 190, 235), (240, 190, 205), (205, 220, 240)), (225, 190, 215), (244, 236, 244)
    ),
}


@lru_cache(maxsize=16)
def guilloche(generation: str, side: str) -> np.ndarray:
    """A pale security background (guilloche waves, a rosette), RGB uint8, card sized; cached."""
    palette = PALETTES[generation]
    rng = np.random.default_rng(zlib.crc32(f"{generation}/{side}".encode()))
    h, w = CARD_HEIGHT, CARD_WIDTH
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    image = np.empty((h, w, 3), np.float32)
    image[:] = palette.base
    # A soft light patch in the middle, as the printed cards have.
    cx, cy = w * (0.55 + rng.uniform(-0.1, 0.1)), h * 0.5
    glow = np.exp(-(((xx - cx) / (w * 0.45)) ** 2 + ((yy - cy) / (h * 0.55)) ** 2))
    image += (np.array(palette.glow, np.float32) - image) * glow[..., None] * 0.7
    for index, color in enumerate(palette.waves):
        period = rng.uniform(9, 16)
        amp1, amp2 = rng.uniform(15, 45), rng.uniform(5, 20)
        f1, f2 = rng.uniform(1.5, 3.5) / w, rng.uniform(4, 9) / w
        ph1, ph2 = rng.uniform(0, 2 * math.pi, 2)
        tilt = rng.uniform(-0.25, 0.25)
        phase = (
            yy + tilt * xx + amp1 * np.sin(2 * math.pi * f1 * xx + ph1) + amp2 * np.sin(2 * math.pi * f2 * xx + ph2)
        ) / period
        lines = np.cos(2 * math.pi * phase)
        # Raising to a high power keeps only thin crests: fine printed lines, not stripes.
        strength = np.clip(lines, 0, 1) ** (14 if index else 10) * (0.55 - 0.1 * index)
        image += (np.array(color, np.float32) - image) * strength[..., None]
    # A rosette, like the drum-head patterns on the cards.
    rx, ry = w * rng.uniform(0.55, 0.75), h * rng.uniform(0.4, 0.6)
    radius = np.hypot(xx - rx, yy - ry)
    angle = np.arctan2(yy - ry, xx - rx)
    petals = int(rng.integers(14, 26))
    rings = np.cos(2 * math.pi * (radius / 11 + 1.8 * np.sin(petals * angle)))
    fade = np.clip(1 - radius / (h * 0.48), 0, 1)
    strength = np.clip(rings, 0, 1) ** 12 * 0.45 * fade
    image += (np.array(palette.rosette, np.float32) - image) * strength[..., None]
    return np.clip(image, 0, 255).astype(np.uint8)


@lru_cache(maxsize=1)
def card_mask() -> np.ndarray:
    """Alpha mask (uint8, 255 inside) of the card's outline with its rounded corners, antialiased."""
    scale = 4
    big = Image.new("L", (CARD_WIDTH * scale, CARD_HEIGHT * scale), 0)
    ImageDraw.Draw(big).rounded_rectangle(
        (0, 0, CARD_WIDTH * scale - 1, CARD_HEIGHT * scale - 1), radius=CORNER_RADIUS * scale, fill=255
    )
    return np.asarray(big.resize((CARD_WIDTH, CARD_HEIGHT), Image.Resampling.BOX))


# --- emblem, chip, seals ----------------------------------------------------------------------------------


def _star(cx: float, cy: float, r_out: float, r_in: float, rotation: float = -math.pi / 2) -> list[tuple[float, float]]:
    points = []
    for i in range(10):
        r = r_out if i % 2 == 0 else r_in
        a = rotation + i * math.pi / 5
        points.append((cx + r * math.cos(a), cy + r * math.sin(a)))
    return points


@lru_cache(maxsize=8)
def emblem(radius: int) -> Image.Image:
    """The national emblem, simplified: red disc, yellow star, a ring of rice ears, a cogwheel; RGBA."""
    s = 4
    size = 2 * radius * s
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    c = size / 2
    r = radius * s
    gold, dark_gold = (222, 172, 40, 255), (160, 110, 20, 255)
    d.ellipse((c - r, c - r, c + r, c + r), fill=dark_gold)
    d.ellipse((c - r * 0.96, c - r * 0.96, c + r * 0.96, c + r * 0.96), fill=gold)
    # Rice grains along the ring.
    for i in range(40):
        a = math.pi * (0.15 + 1.7 * i / 39) + math.pi / 2
        for rr in (0.86, 0.76):
            gx, gy = c + r * rr * math.cos(a), c + r * rr * math.sin(a)
            d.ellipse((gx - r * 0.045, gy - r * 0.07, gx + r * 0.045, gy + r * 0.07), fill=dark_gold)
    d.ellipse((c - r * 0.66, c - r * 0.7, c + r * 0.66, c + r * 0.62), fill=(214, 30, 36, 255))
    d.polygon(_star(c, c - r * 0.08, r * 0.42, r * 0.17), fill=(255, 222, 0, 255))
    # The cogwheel at the bottom and the ribbon.
    gy = c + r * 0.62
    d.ellipse((c - r * 0.3, gy - r * 0.3, c + r * 0.3, gy + r * 0.3), fill=dark_gold)
    for i in range(12):
        a = i * math.pi / 6
        tx, ty = c + r * 0.34 * math.cos(a), gy + r * 0.34 * math.sin(a)
        d.rectangle((tx - r * 0.05, ty - r * 0.05, tx + r * 0.05, ty + r * 0.05), fill=dark_gold)
    d.ellipse((c - r * 0.14, gy - r * 0.14, c + r * 0.14, gy + r * 0.14), fill=gold)
    d.rectangle((c - r * 0.55, c + r * 0.82, c + r * 0.55, c + r * 0.95), fill=(200, 30, 36, 255))
    return img.resize((2 * radius, 2 * radius), Image.Resampling.LANCZOS)


@lru_cache(maxsize=4)
def chip(width: int, height: int) -> Image.Image:
    """The gold contact plate of a chip card (ISO 7816 pads), RGB."""
    s = 4
    w, h = width * s, height * s
    xx = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    yy = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    shade = 0.85 + 0.15 * np.cos((xx - yy) * 3.0)
    gold = np.stack([212 * shade, 175 * shade, 90 * shade], axis=-1)
    img = Image.fromarray(np.clip(gold, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(img)
    line = (140, 105, 45)
    lw = 3 * s // 2
    d.rounded_rectangle((0, 0, w - 1, h - 1), radius=h // 7, outline=line, width=lw)
    x1, x2 = w * 0.33, w * 0.67
    d.line((x1, 0, x1, h), fill=line, width=lw)
    d.line((x2, 0, x2, h), fill=line, width=lw)
    for frac in (0.25, 0.5, 0.75):
        d.line((0, h * frac, x1, h * frac), fill=line, width=lw)
        d.line((x2, h * frac, w, h * frac), fill=line, width=lw)
    d.rounded_rectangle((x1 + w * 0.06, h * 0.2, x2 - w * 0.06, h * 0.8), radius=h // 10, outline=line, width=lw)
    return img.resize((width, height), Image.Resampling.LANCZOS)


@lru_cache(maxsize=16)
def stamp(text: str, radius: int) -> np.ndarray:
    """A round red seal with its issuer's name around the rim: alpha (0..1 float32), square."""
    s = 3
    size = 2 * radius * s
    img = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(img)
    c, r = size / 2, radius * s
    d.ellipse((c - r + 2, c - r + 2, c + r - 2, c + r - 2), outline=255, width=int(r * 0.06))
    d.ellipse((c - r * 0.66, c - r * 0.66, c + r * 0.66, c + r * 0.66), outline=255, width=int(r * 0.03))
    d.polygon(_star(c, c, r * 0.36, r * 0.15), fill=255)
    face = font("sans_bold", r * 0.15)
    chars = list(text.upper())
    span = min(1.75 * math.pi, 0.2 * len(chars))
    for i, ch in enumerate(chars):
        a = -math.pi / 2 - span / 2 + span * (i + 0.5) / len(chars)
        glyph = Image.new("L", (int(r * 0.3), int(r * 0.3)), 0)
        ImageDraw.Draw(glyph).text((glyph.width / 2, glyph.height / 2), ch, font=face, fill=255, anchor="mm")
        glyph = glyph.rotate(-math.degrees(a) - 90, resample=Image.Resampling.BICUBIC)
        gx, gy = c + r * 0.82 * math.cos(a), c + r * 0.82 * math.sin(a)
        img.paste(255, (int(gx - glyph.width / 2), int(gy - glyph.height / 2)), glyph)
    small = img.resize((2 * radius, 2 * radius), Image.Resampling.LANCZOS)
    return np.asarray(small, np.float32) / 255.0


def signature(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A cursive flourish as ink alpha (0..1 float32)."""
    s = 2
    img = Image.new("L", (width * s, height * s), 0)
    d = ImageDraw.Draw(img)
    n = 220
    t = np.linspace(0, 1, n)
    loops = rng.uniform(3, 7)
    x = (0.08 + 0.8 * t + 0.05 * np.sin(2 * math.pi * loops * t + rng.uniform(0, 6))) * width * s
    y = (
        (0.5 + 0.28 * np.sin(2 * math.pi * loops * t * rng.uniform(0.9, 1.3)) * np.exp(-t * rng.uniform(0.5, 2)))
        * height
        * s
    )
    y += (t - 0.5) * rng.uniform(-0.4, 0.2) * height * s
    points = list(zip(x.tolist(), y.tolist(), strict=True))
    d.line(points, fill=255, width=int(2.2 * s), joint="curve")
    # The underline stroke most signatures end with.
    ux0, ux1 = width * s * rng.uniform(0.1, 0.3), width * s * rng.uniform(0.7, 0.95)
    uy = height * s * rng.uniform(0.7, 0.85)
    d.line((ux0, uy, ux1, uy - height * s * 0.08), fill=255, width=int(2 * s))
    small = img.resize((width, height), Image.Resampling.LANCZOS)
    return np.asarray(small, np.float32) / 255.0


# --- fingerprint, portrait --------------------------------------------------------------------------------


def _smooth_noise(rng: np.random.Generator, width: int, height: int, cells: int) -> np.ndarray:
    coarse = rng.standard_normal((cells, max(2, int(cells * width / height)))).astype(np.float32)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)


def fingerprint(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """An inked index-finger print (loop or whorl ridges, fading at the edges): alpha 0..1 float32."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    cx = width * rng.uniform(0.42, 0.58)
    cy = height * rng.uniform(0.4, 0.55)
    dx, dy = xx - cx, yy - cy
    radius = np.sqrt(dx**2 + (dy * 0.85) ** 2)
    theta = np.arctan2(dy, dx)
    period = rng.uniform(6.5, 8.5)
    warp = _smooth_noise(rng, width, height, 5) * rng.uniform(4, 9)
    if rng.random() < 0.5:  # loop: ridges bend round a core and leave to one side
        bend = rng.choice([-1.0, 1.0]) * rng.uniform(0.25, 0.45)
        phase = radius + bend * dx * np.exp(-((dy / (height * 0.25)) ** 2)) + 0.15 * radius * np.sin(theta)
    else:  # whorl
        phase = radius + 3.0 * np.sin(theta + rng.uniform(0, 6))
    ridges = 0.5 + 0.5 * np.cos(2 * math.pi * (phase + warp) / period)
    ink = np.clip((ridges - 0.45) * 3.5, 0, 1)
    ex, ey = width * 0.4, height * 0.46
    edge = (dx / ex) ** 2 + (dy / ey) ** 2
    pressure = np.clip(1.4 - edge, 0, 1) * np.clip(0.75 + 0.35 * _smooth_noise(rng, width, height, 6), 0, 1)
    return (ink * pressure * rng.uniform(0.6, 0.85)).astype(np.float32)


@dataclass(frozen=True)
class PortraitLook:
    """The sitter's appearance, drawn from a seed so a card re-renders identically."""

    skin: Color
    hair: Color
    shirt: Color
    backdrop: Color
    long_hair: bool
    head_dx: float
    head_scale: float
    grey: bool


def portrait_look(seed: int, sex: str, age: int, generation: str) -> PortraitLook:
    rng = np.random.default_rng(seed)
    tone = rng.uniform(0, 1)
    skin = (int(235 - 55 * tone), int(200 - 60 * tone), int(170 - 60 * tone))
    grey_hair = age > 55 and rng.random() < 0.6
    hair_level = int(rng.uniform(150, 190)) if grey_hair else int(rng.uniform(15, 45))
    hair = (
        hair_level,
        hair_level - 5 if hair_level > 10 else hair_level,
        hair_level - 8 if hair_level > 10 else 0,
    )
    shirts: list[Color] = [
        (245, 245, 245),
        (200, 215, 235),
        (40, 50, 80),
        (235, 235, 225),
        (120, 30, 40),
        (30, 30, 35),
    ]
    shirt = shirts[int(rng.integers(len(shirts)))]
    backdrops: list[Color] = [(245, 246, 248), (225, 235, 248), (236, 240, 246), (250, 250, 250)]
    backdrop = backdrops[int(rng.integers(len(backdrops)))]
    return PortraitLook(
        skin=skin,
        hair=hair,
        shirt=shirt,
        backdrop=backdrop,
        long_hair=sex == "Nữ" and rng.random() < 0.8,
        head_dx=float(rng.uniform(-0.04, 0.04)),
        head_scale=float(rng.uniform(0.92, 1.06)),
        grey=generation == "cmnd9" and rng.random() < 0.4,  # older CMND photos were often black and white
    )


def _shade(color: Color, factor: float) -> Color:
    return (
        int(min(255, color[0] * factor)),
        int(min(255, color[1] * factor)),
        int(min(255, color[2] * factor)),
    )


def _head_outline(
    cx: float, cy: float, head_w: float, head_h: float, grow: float = 1.0, span_deg: float = 180.0
) -> list[tuple[float, float]]:
    """An egg-shaped head (the jaw narrows to the chin), traced from -span to +span degrees about the crown."""
    points = []
    for t in np.radians(np.linspace(-span_deg, span_deg, 73)):
        narrowing = 1 - 0.22 * max(0.0, -math.cos(t)) ** 1.5
        points.append((cx + grow * head_w / 2 * math.sin(t) * narrowing, cy - grow * head_h / 2 * math.cos(t)))
    return points


def portrait(look: PortraitLook, width: int, height: int) -> Image.Image:
    """A head-and-shoulders figure on a light backdrop, soft like a printed photo; RGB."""
    s = 2
    w, h = width * s, height * s
    backdrop = np.empty((h, w, 3), np.float32)
    backdrop[:] = look.backdrop
    backdrop *= np.linspace(1.0, 0.94, h, dtype=np.float32)[:, None, None]  # studio light falls off downwards
    img = Image.fromarray(np.clip(backdrop, 0, 255).astype(np.uint8))
    figure = Image.new("L", (w, h), 0)  # where the sitter is, for the shading below
    d, f = ImageDraw.Draw(img), ImageDraw.Draw(figure)
    cx = w * (0.5 + look.head_dx)
    head_w, head_h = w * 0.5 * look.head_scale, h * 0.5 * look.head_scale
    head_cy = h * 0.43
    hair_top = head_cy - head_h * 0.56
    if look.long_hair:  # hair falling behind the shoulders
        box = (cx - head_w * 0.64, hair_top, cx + head_w * 0.64, h * 0.9)
        d.rounded_rectangle(box, radius=int(head_w * 0.45), fill=look.hair)
    # Shoulders in a shirt, the neck, an open collar.
    d.rounded_rectangle((cx - w * 0.6, h * 0.76, cx + w * 0.6, h * 1.3), radius=int(w * 0.22), fill=look.shirt)
    neck_w = head_w * 0.42
    neck = [(cx - neck_w / 2, head_cy), (cx + neck_w / 2, head_cy), (cx + neck_w / 2, h * 0.79), (cx, h * 0.9)]
    d.polygon([*neck, (cx - neck_w / 2, h * 0.79)], fill=_shade(look.skin, 0.84))
    collar = (248, 248, 248) if sum(look.shirt) < 450 else _shade(look.shirt, 0.82)
    for side in (-1, 1):
        lapel = [(cx + side * neck_w * 0.5, h * 0.76), (cx + side * neck_w * 1.3, h * 0.81), (cx, h * 0.94)]
        d.polygon(lapel, fill=collar)
    # Ears, then the face.
    for side in (-1, 1):
        ex = cx + side * head_w * 0.48
        ear = (ex - head_w * 0.07, head_cy - head_h * 0.06, ex + head_w * 0.07, head_cy + head_h * 0.13)
        d.ellipse(ear, fill=_shade(look.skin, 0.9))
    face = _head_outline(cx, head_cy, head_w, head_h)
    d.polygon(face, fill=look.skin)
    f.polygon(face, fill=255)
    f.rectangle((cx - neck_w / 2, head_cy, cx + neck_w / 2, h * 0.9), fill=255)
    # Hair: the skull's cap over the crown down to a hairline, the sides down to the ears.
    crown = _head_outline(cx, head_cy - head_h * 0.015, head_w, head_h, 1.06, 95)
    hairline = head_cy - head_h * (0.24 if look.long_hair else 0.27)
    temple = head_cy - head_h * 0.02
    d.polygon(
        [*crown, (cx + head_w * 0.47, temple), (cx + head_w * 0.38, hairline), (cx, hairline - head_h * 0.03),
         (cx - head_w * 0.38, hairline), (cx - head_w * 0.47, temple)],
        fill=look.hair,
    )  # fmt: skip
    if look.long_hair:  # a side parting sweeping over one temple
        d.polygon(
            [(cx - head_w * 0.1, hairline - head_h * 0.04), (cx - head_w * 0.5, hairline + head_h * 0.02),
             (cx - head_w * 0.5, head_cy + head_h * 0.1), (cx - head_w * 0.36, hairline + head_h * 0.08)],
            fill=look.hair,
        )  # fmt: skip
    # Brows, eyes, nose, mouth.
    eye_y = head_cy + head_h * 0.02
    for side in (-1, 1):
        ex = cx + side * head_w * 0.2
        brow = (ex - head_w * 0.1, eye_y - head_h * 0.07, ex + head_w * 0.1, eye_y - head_h * 0.08)
        d.line(brow, fill=_shade(look.hair, 1.1), width=int(3 * s))
        white = (ex - head_w * 0.07, eye_y - head_h * 0.02, ex + head_w * 0.07, eye_y + head_h * 0.02)
        d.ellipse(white, fill=(240, 240, 238))
        iris = (ex - head_w * 0.03, eye_y - head_h * 0.022, ex + head_w * 0.03, eye_y + head_h * 0.02)
        d.ellipse(iris, fill=(40, 28, 22))
    nose_shadow = _shade(look.skin, 0.76)
    d.line((cx, eye_y + head_h * 0.04, cx - head_w * 0.04, eye_y + head_h * 0.16), fill=nose_shadow, width=2 * s)
    d.line(
        (cx - head_w * 0.05, eye_y + head_h * 0.17, cx + head_w * 0.05, eye_y + head_h * 0.17),
        fill=nose_shadow,
        width=2 * s,
    )
    mouth_y = head_cy + head_h * 0.28
    mouth = (cx - head_w * 0.12, mouth_y - head_h * 0.05, cx + head_w * 0.12, mouth_y + head_h * 0.03)
    d.arc(mouth, 20, 160, fill=(160, 80, 78), width=3 * s)
    # Light from the front: the sides of the face and neck fall into shade.
    rgb = np.asarray(img, dtype=np.float32)
    across = (np.arange(w, dtype=np.float32) - cx) / (head_w * 0.55)
    shade = 1 - 0.16 * np.clip(np.abs(across), 0, 1.2) ** 2
    on_figure = np.asarray(figure, dtype=np.float32)[..., None] / 255.0
    rgb *= 1 - on_figure * (1 - shade[None, :, None])
    img = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.3 * s))
    img = img.resize((width, height), Image.Resampling.BILINEAR)
    if look.grey:
        img = img.convert("L").convert("RGB")
    return img


# --- QR ---------------------------------------------------------------------------------------------------


def qr_modules(payload: str) -> np.ndarray:
    """The QR code's module matrix (1 = dark), UTF-8, error level M."""
    code = segno.make_qr(payload, error="m", encoding="utf-8", boost_error=False)
    return np.array([list(row) for row in code.matrix], dtype=np.uint8)


def qr_image(payload: str, size_px: int, quiet_modules: int = 2) -> np.ndarray:
    """The printed QR code: grey uint8, size_px square with its quiet zone (modules need not be whole px)."""
    modules = qr_modules(payload)
    n = modules.shape[0] + 2 * quiet_modules
    padded = np.zeros((n, n), np.uint8)
    padded[quiet_modules : quiet_modules + modules.shape[0], quiet_modules : quiet_modules + modules.shape[0]] = modules
    grey = np.where(padded == 1, 20, 250).astype(np.uint8)
    big = cv2.resize(grey, (n * 8, n * 8), interpolation=cv2.INTER_NEAREST)
    printed: np.ndarray = cv2.resize(big, (size_px, size_px), interpolation=cv2.INTER_AREA)
    return printed
