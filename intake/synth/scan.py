"""Cards laid on a flatbed or photographed on a table, with the transform each was painted with."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from intake.synth.draw import CARD_DPI, CARD_HEIGHT, CARD_WIDTH, card_mask

MM_PER_INCH = 25.4
A4_MM = (210.0, 297.0)
A5_MM = (148.0, 210.0)
ROTATION_MODES = ("upright", "small", "right", "arbitrary")


@dataclass
class PlacedCard:
    """Where one card side lies on a page: the homography from the canonical card to the page.

    Coordinates are continuous: canonical pixel (u, v) covers [u, u+1) x [v, v+1), the card spans
    [0, 1011] x [0, 638]; page pixel (x, y) likewise covers [x, x+1) x [y, y+1).
    """

    side: str
    homography: np.ndarray  # 3x3 float64

    def corners(self) -> list[list[float]]:
        """Images of the card's sharp corners TL, TR, BR, BL (of the upright card)."""
        points = np.array([[0, 0], [CARD_WIDTH, 0], [CARD_WIDTH, CARD_HEIGHT], [0, CARD_HEIGHT]], np.float64)
        mapped = cv2.perspectiveTransform(points[None], self.homography)[0]
        return [[round(float(x), 2), round(float(y), 2)] for x, y in mapped]

    def angle(self) -> float:
        """The top edge's direction on the page, degrees counterclockwise as seen (y points down)."""
        (x0, y0), (x1, y1) = self.corners()[:2]
        return round(math.degrees(math.atan2(-(y1 - y0), x1 - x0)), 2)


@dataclass
class Page:
    """One page image (BGR uint8) as displayed, its resolution (None for photos) and its cards."""

    image: np.ndarray
    dpi: int | None
    cards: list[PlacedCard]
    white_point: int | None = None  # the grey the driver's levels mapped to white, if it clipped


@dataclass(frozen=True)
class Degradation:
    """How much a scan or photo suffers; each knob 0 means off."""

    blur_sigma: float = 0.0  # px at page resolution
    noise_sigma: float = 0.0  # grey levels
    illumination: float = 0.0  # depth of the smooth light falloff, 0..0.15
    lid_shadow: float = 0.0  # darkness of a lid shadow along one page edge, 0..0.5
    jpeg_quality: int = 90
    white_clip: bool = False  # the driver's auto-levels clip the lid (and anything as light) to pure white

    @staticmethod
    def random(rng: np.random.Generator, strength: float) -> Degradation:
        """Knobs drawn around a strength in 0..1 (0: a clean scan, 1: a poor one)."""
        s = float(np.clip(strength, 0, 1))
        return Degradation(
            blur_sigma=float(rng.uniform(0.2, 0.5) + s * rng.uniform(0.2, 0.9)),
            noise_sigma=float(rng.uniform(0.6, 1.2) + s * rng.uniform(0.5, 3.5)),
            illumination=float(s * rng.uniform(0.02, 0.12)),
            lid_shadow=float(rng.uniform(0.15, 0.45)) if rng.random() < 0.25 + 0.5 * s else 0.0,
            jpeg_quality=round(92 - s * rng.uniform(15, 37)),
            white_clip=bool(rng.random() < 0.3),
        )

    def with_white_clip(self) -> Degradation:
        """The same scan through a driver that clips the lid to white (document mode, lossless files)."""
        return replace(self, white_clip=True)


def mm_to_px(mm: float, dpi: float) -> int:
    return round(mm / MM_PER_INCH * dpi)


def _to_index_matrix(homography: np.ndarray) -> np.ndarray:
    """cv2 samples pixel centres at integer indices; our continuous frame puts them at +0.5."""
    shift_in = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]], np.float64)
    shift_out = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]], np.float64)
    return shift_out @ homography @ shift_in


def _scaled_card(card: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The card (and its mask) pre-shrunk with area averaging, and the exact scale that maps it."""
    mask = card_mask()
    if scale >= 0.85:
        return card, mask, np.eye(3)
    width, height = max(1, round(CARD_WIDTH * scale)), max(1, round(CARD_HEIGHT * scale))
    small = cv2.resize(card, (width, height), interpolation=cv2.INTER_AREA)
    small_mask = cv2.resize(mask, (width, height), interpolation=cv2.INTER_AREA)
    return small, small_mask, np.diag([width / CARD_WIDTH, height / CARD_HEIGHT, 1.0])


def paint_card(
    page: np.ndarray,
    card: np.ndarray,
    homography: np.ndarray,
    *,
    shadow_offset: tuple[float, float] = (0.0, 0.0),
    shadow_blur: float = 1.2,
    shadow_strength: float = 0.0,
    edge_darkening: float = 0.0,
) -> None:
    """Paint a canonical card onto the page in place through a homography, with a cast shadow."""
    # Pre-shrink when the page is coarser than the card, so small print is averaged rather than aliased.
    corners = cv2.perspectiveTransform(
        np.array([[[0, 0], [CARD_WIDTH, 0], [CARD_WIDTH, CARD_HEIGHT], [0, CARD_HEIGHT]]], np.float64),
        homography,
    )[0]
    scale = math.sqrt(cv2.contourArea(corners.astype(np.float32)) / (CARD_WIDTH * CARD_HEIGHT))
    source, mask, pre = _scaled_card(card, scale)
    to_page = homography @ np.linalg.inv(pre)
    pad = math.ceil(abs(shadow_offset[0]) + abs(shadow_offset[1]) + 4 * shadow_blur + 4)
    page_h, page_w = page.shape[:2]
    x0 = max(0, math.floor(corners[:, 0].min()) - pad)
    y0 = max(0, math.floor(corners[:, 1].min()) - pad)
    x1 = min(page_w, math.ceil(corners[:, 0].max()) + pad)
    y1 = min(page_h, math.ceil(corners[:, 1].max()) + pad)
    if x1 <= x0 or y1 <= y0:
        return
    roi_shift = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64)
    matrix = _to_index_matrix(roi_shift @ to_page)
    size = (x1 - x0, y1 - y0)
    warped = cv2.warpPerspective(source, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpPerspective(mask, matrix, size, flags=cv2.INTER_LINEAR, borderValue=0).astype(np.float32) / 255.0
    roi = page[y0:y1, x0:x1].astype(np.float32)
    if shadow_strength > 0:
        shift = np.array([[1, 0, shadow_offset[0]], [0, 1, shadow_offset[1]]], np.float32)
        shadow = cv2.warpAffine(alpha, shift, size, flags=cv2.INTER_LINEAR, borderValue=0)
        if shadow_blur > 0:
            shadow = cv2.GaussianBlur(shadow, (0, 0), shadow_blur)
        roi *= (1 - shadow_strength * shadow)[..., None]
    card_pixels = warped.astype(np.float32)
    if edge_darkening > 0:
        # The cut edge of a laminated card shows as a faint dark rim.
        inner = cv2.erode(alpha, np.ones((3, 3), np.uint8), iterations=2)
        card_pixels *= (1 - edge_darkening * np.clip(alpha - inner, 0, 1))[..., None]
    roi = roi * (1 - alpha[..., None]) + card_pixels * alpha[..., None]
    page[y0:y1, x0:x1] = np.clip(roi + 0.5, 0, 255).astype(np.uint8)


def _rotation_degrees(rng: np.random.Generator, mode: str | float) -> float:
    if not isinstance(mode, str):  # an exact angle asked for
        return float(mode)
    if mode == "upright":
        return 0.0
    if mode == "small":
        return float(rng.uniform(-5, 5))
    if mode == "right":
        return float(rng.choice([90.0, 180.0, 270.0]))
    if mode == "arbitrary":
        return float(rng.uniform(0, 360))
    raise ValueError(f"unknown rotation mode {mode!r}")


def similarity(angle_deg: float, scale: float, center: tuple[float, float]) -> np.ndarray:
    """Card -> page: scale about the card centre, rotate counterclockwise as seen, move to center."""
    a = math.radians(angle_deg)
    cos, sin = math.cos(a), math.sin(a)
    # With y pointing down, a counterclockwise turn as seen maps (1, 0) to (cos, -sin).
    rotate = np.array([[cos, sin, 0], [-sin, cos, 0], [0, 0, 1]], np.float64)
    to_origin = np.array([[1, 0, -CARD_WIDTH / 2], [0, 1, -CARD_HEIGHT / 2], [0, 0, 1]], np.float64)
    scaling = np.diag([scale, scale, 1.0])
    to_center = np.array([[1, 0, center[0]], [0, 1, center[1]], [0, 0, 1]], np.float64)
    result: np.ndarray = to_center @ rotate @ scaling @ to_origin
    return result


def _rotated_extent(angle_deg: float, scale: float) -> tuple[float, float]:
    a = math.radians(angle_deg)
    w, h = CARD_WIDTH * scale, CARD_HEIGHT * scale
    return abs(w * math.cos(a)) + abs(h * math.sin(a)), abs(w * math.sin(a)) + abs(h * math.cos(a))


def _smooth_field(rng: np.random.Generator, width: int, height: int, cells: int) -> np.ndarray:
    coarse = rng.standard_normal((cells, cells)).astype(np.float32)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)


def _lid(rng: np.random.Generator, width: int, height: int) -> tuple[np.ndarray, float]:
    """The scanner lid: near white, faintly tinted, with a slow texture; and its grey level."""
    level = rng.uniform(240, 251)
    tint = rng.uniform(-2, 2, 3)
    small_w, small_h = max(2, width // 16), max(2, height // 16)
    texture = _smooth_field(rng, small_w, small_h, 8) * rng.uniform(0.6, 1.6)
    base = np.stack([level + tint[i] + texture for i in range(3)], axis=-1)
    base = np.clip(base, 0, 255).astype(np.uint8)
    return cv2.resize(base, (width, height), interpolation=cv2.INTER_LINEAR), float(level)


def _light_field(rng: np.random.Generator, width: int, height: int, degradation: Degradation) -> np.ndarray | None:
    """Multiplicative light: a smooth falloff and a lid shadow along one page edge; None when flat."""
    if degradation.illumination <= 0 and degradation.lid_shadow <= 0:
        return None
    small_w, small_h = max(8, width // 8), max(8, height // 8)
    field = np.ones((small_h, small_w), np.float32)
    if degradation.illumination > 0:
        yy, xx = np.mgrid[0:small_h, 0:small_w].astype(np.float32)
        gx, gy = rng.uniform(-1, 1, 2)
        ramp = gx * (xx / small_w - 0.5) + gy * (yy / small_h - 0.5)
        wobble = _smooth_field(rng, small_w, small_h, 4) * 0.3
        field *= 1 - degradation.illumination * np.clip(0.5 + ramp + wobble, 0, 1.5)
    if degradation.lid_shadow > 0:
        edge = int(rng.integers(4))
        depth = rng.uniform(0.015, 0.05)  # band width as a share of the page
        length = small_w if edge in (0, 1) else small_h
        span = small_h if edge in (0, 1) else small_w
        distance = np.arange(span, dtype=np.float32) / (depth * span)
        profile = 1 - degradation.lid_shadow * np.exp(-distance)
        if edge in (1, 3):
            profile = profile[::-1]
        band = (
            np.repeat(profile[:, None], length, axis=1)
            if edge in (0, 1)
            else np.repeat(profile[None, :], length, axis=0)
        )
        field *= band
    return cv2.resize(field, (width, height), interpolation=cv2.INTER_LINEAR)


def _apply_light(page: np.ndarray, field: np.ndarray) -> np.ndarray:
    # uint8 arithmetic keeps this fast on 300-dpi A4 pages; 250 leaves headroom for a factor above 1.
    factor = np.clip(field * 250, 0, 255).astype(np.uint8)
    result: np.ndarray = cv2.multiply(page, cv2.merge([factor, factor, factor]), scale=1 / 250.0)
    return result


def add_noise(page: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Sensor noise, mostly in luminance (one draw shared by the channels) with a little colour."""
    if sigma <= 0:
        return page
    height, width = page.shape[:2]
    luma = rng.standard_normal((height, width), dtype=np.float32) * sigma
    positive = np.clip(luma, 0, 255).astype(np.uint8)
    negative = np.clip(-luma, 0, 255).astype(np.uint8)
    noisy = cv2.add(page, cv2.merge([positive, positive, positive]))
    result: np.ndarray = cv2.subtract(noisy, cv2.merge([negative, negative, negative]))
    return result


def blur_regions(page: np.ndarray, sigma: float, boxes: list[tuple[int, int, int, int]]) -> None:
    """Optical blur where there is detail (the cards); the bare lid is smooth already."""
    if sigma <= 0.05:
        return
    pad = math.ceil(3 * sigma) + 2
    height, width = page.shape[:2]
    for x0, y0, x1, y1 in boxes:
        x0, y0 = max(0, x0 - pad), max(0, y0 - pad)
        x1, y1 = min(width, x1 + pad), min(height, y1 + pad)
        page[y0:y1, x0:x1] = cv2.GaussianBlur(page[y0:y1, x0:x1], (0, 0), sigma)


def _bbox(placed: PlacedCard, margin: int = 12) -> tuple[int, int, int, int]:
    corners = np.array(placed.corners())
    return (
        int(corners[:, 0].min()) - margin,
        int(corners[:, 1].min()) - margin,
        int(corners[:, 0].max()) + margin,
        int(corners[:, 1].max()) + margin,
    )


def flatbed_page(
    cards: list[tuple[str, np.ndarray]],
    rng: np.random.Generator,
    *,
    dpi: int,
    rotation_modes: list[str | float],
    degradation: Degradation,
    paper_mm: tuple[float, float] = A4_MM,
    arrangement: str = "stacked",
) -> Page:
    """A flatbed scan of one or two card sides lying anywhere on the glass (as displayed)."""
    width, height = mm_to_px(paper_mm[0], dpi), mm_to_px(paper_mm[1], dpi)
    page, lid_level = _lid(rng, width, height)
    scale = dpi / CARD_DPI
    margin = mm_to_px(3, dpi)
    angles = [_rotation_degrees(rng, mode) for mode in rotation_modes]
    half = width // 2 - 2 * margin
    if len(cards) == 1:
        regions = [(0, 0, width, height)]
    elif arrangement == "side_by_side" and all(_rotated_extent(angle, scale)[0] <= half for angle in angles):
        regions = [(0, 0, width // 2, int(height * 0.45)), (width // 2, 0, width, int(height * 0.45))]
    else:  # stacked; also where a turned card would not fit beside the other
        regions = [(0, 0, width, height // 2), (0, height // 2, width, height)]
    # The lamp throws the card's thickness as a thin shadow on one side.
    shadow_dir = rng.uniform(0, 2 * math.pi)
    shadow_len = rng.uniform(1.0, 2.5) * dpi / 200
    placed: list[PlacedCard] = []
    for (side, card), region, mode, angle in zip(cards, regions, rotation_modes, angles, strict=True):
        rx0, ry0, rx1, ry1 = region
        for _ in range(50):
            # A card turned askew on a small area may not fit: turn it another way, as a person would.
            extent_w, extent_h = _rotated_extent(angle, scale)
            free_w = (rx1 - rx0) - extent_w - 2 * margin
            free_h = (ry1 - ry0) - extent_h - 2 * margin
            if free_w >= 0 and free_h >= 0:
                break
            angle = _rotation_degrees(rng, mode) if isinstance(mode, str) else angle
        else:
            raise ValueError(f"a card turned {angle:.1f}° does not fit {paper_mm[0]:.0f} x {paper_mm[1]:.0f} mm")
        if rng.random() < 0.4:  # against the glass's corner guide
            fx, fy = (
                rng.uniform(0, min(free_w, mm_to_px(8, dpi))),
                rng.uniform(0, min(free_h, mm_to_px(8, dpi))),
            )
        else:
            fx, fy = rng.uniform(0, free_w), rng.uniform(0, free_h)
        center = (rx0 + margin + fx + extent_w / 2, ry0 + margin + fy + extent_h / 2)
        homography = similarity(angle, scale, center)
        paint_card(
            page,
            card,
            homography,
            shadow_offset=(shadow_len * math.cos(shadow_dir), shadow_len * math.sin(shadow_dir)),
            shadow_blur=0.8 * dpi / 200,
            shadow_strength=float(rng.uniform(0.25, 0.55)),
            edge_darkening=float(rng.uniform(0.1, 0.3)),
        )
        placed.append(PlacedCard(side, homography))
    blur_regions(page, degradation.blur_sigma, [_bbox(p) for p in placed])
    field = _light_field(rng, width, height, degradation)
    if field is not None:
        page = _apply_light(page, field)
    page = add_noise(page, rng, degradation.noise_sigma)
    white_point = None
    if degradation.white_clip:  # levels set under the lid's grey and its noise: the lid goes white, the card stays
        white_point = round(lid_level - 3 * degradation.noise_sigma - rng.uniform(4, 7))
        levels = np.clip(np.arange(256, dtype=np.float32) * 255.0 / white_point, 0, 255).astype(np.uint8)
        page = cv2.LUT(page, levels)
    return Page(page, dpi, placed, white_point)


# --- phone photos -----------------------------------------------------------------------------------------


def _table(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A dark or textured surface: wood grain, a dark desk mat or a fabric."""
    small_w, small_h = width // 4, height // 4
    kind = int(rng.integers(3))
    yy, xx = np.mgrid[0:small_h, 0:small_w].astype(np.float32)
    if kind == 0:  # wood: stretched noise plus wavy grain
        grain = cv2.resize(
            rng.standard_normal((small_h // 2, 12)).astype(np.float32),
            (small_w, small_h),
            interpolation=cv2.INTER_CUBIC,
        )
        waves = np.sin(yy / rng.uniform(3, 7) + 2.5 * np.sin(xx / rng.uniform(40, 90)) + grain)
        level = 0.55 + 0.12 * waves + 0.05 * grain
        base = np.array([40, 75, 120], np.float32) * rng.uniform(0.7, 1.3)  # BGR brown
        image = base[None, None, :] * (level[..., None] * 1.6)
    elif kind == 1:  # dark desk mat
        level = 1 + 0.06 * _smooth_field(rng, small_w, small_h, 6)
        base = np.array(rng.uniform(25, 60, 3), np.float32)
        image = base[None, None, :] * level[..., None]
    else:  # woven fabric
        weave = 0.5 + 0.25 * np.sin(xx * 1.3) * np.sin(yy * 1.3)
        base = np.array(rng.uniform(40, 110, 3), np.float32)
        image = base[None, None, :] * (0.8 + 0.4 * weave[..., None])
    image = np.clip(image, 0, 255).astype(np.uint8)
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)


def perspective_homography(
    rng: np.random.Generator, width: int, height: int, roll_deg: float, fill: float
) -> np.ndarray:
    """Card -> photo through a pinhole camera looking at the card tilted in pitch and yaw."""
    pitch, yaw = math.radians(rng.uniform(-22, 22)), math.radians(rng.uniform(-18, 18))
    roll = math.radians(roll_deg)
    rx = np.array([[1, 0, 0], [0, math.cos(pitch), -math.sin(pitch)], [0, math.sin(pitch), math.cos(pitch)]])
    ry = np.array([[math.cos(yaw), 0, math.sin(yaw)], [0, 1, 0], [-math.sin(yaw), 0, math.cos(yaw)]])
    # Roll turns the card counterclockwise as seen on the photo (y down).
    rz = np.array([[math.cos(roll), math.sin(roll), 0], [-math.sin(roll), math.cos(roll), 0], [0, 0, 1]])
    rotation = ry @ rx @ rz
    focal = 1.2 * width
    distance = 2.5 * CARD_WIDTH
    corners3 = np.array(
        [[-CARD_WIDTH / 2, -CARD_HEIGHT / 2, 0], [CARD_WIDTH / 2, -CARD_HEIGHT / 2, 0],
         [CARD_WIDTH / 2, CARD_HEIGHT / 2, 0], [-CARD_WIDTH / 2, CARD_HEIGHT / 2, 0]], np.float64
    )  # fmt: skip
    camera = corners3 @ rotation.T + np.array([0, 0, distance])
    projected = focal * camera[:, :2] / camera[:, 2:3]
    # Scale and place so the card fills the chosen share of the frame, wholly inside it.
    span = projected.max(axis=0) - projected.min(axis=0)
    factor = min(fill * width / span[0], 0.85 * height / span[1], 0.9 * width / span[0])
    projected = (projected - projected.min(axis=0)) * factor
    span = projected.max(axis=0)
    free = np.array([width, height], np.float64) - span
    offset = free * rng.uniform(0.2, 0.8, 2)
    target = (projected + offset).astype(np.float32)
    source = np.array([[0, 0], [CARD_WIDTH, 0], [CARD_WIDTH, CARD_HEIGHT], [0, CARD_HEIGHT]], np.float32)
    return cv2.getPerspectiveTransform(source, target).astype(np.float64)


def photo_page(
    cards: list[tuple[str, np.ndarray]],
    rng: np.random.Generator,
    *,
    size: tuple[int, int],
    rotation_mode: str | float,
    degradation: Degradation,
) -> Page:
    """A phone photo of one card side on a table: perspective, soft light, no resolution."""
    width, height = size
    photo = _table(rng, width, height)
    placed: list[PlacedCard] = []
    for side, card in cards:
        # Hand-held, "small" means the ±12° a phone is held off square.
        roll = float(rng.uniform(-12, 12)) if rotation_mode == "small" else _rotation_degrees(rng, rotation_mode)
        homography = perspective_homography(rng, width, height, roll, float(rng.uniform(0.5, 0.72)))
        angle = rng.uniform(0, 2 * math.pi)
        offset = rng.uniform(6, 18)
        paint_card(
            photo,
            card,
            homography,
            shadow_offset=(offset * math.cos(angle), offset * math.sin(angle)),
            shadow_blur=float(rng.uniform(8, 16)),
            shadow_strength=float(rng.uniform(0.35, 0.6)),
            edge_darkening=float(rng.uniform(0.05, 0.2)),
        )
        placed.append(PlacedCard(side, homography))
    blur_regions(photo, degradation.blur_sigma, [_bbox(p, 30) for p in placed])
    # Soft room light: a vignette and a warm or cool cast.
    yy, xx = np.mgrid[0 : height // 8, 0 : width // 8].astype(np.float32)
    cx, cy = rng.uniform(0.3, 0.7) * width / 8, rng.uniform(0.3, 0.7) * height / 8
    radius = np.hypot(xx - cx, yy - cy) / (0.75 * math.hypot(width / 8, height / 8))
    field = cv2.resize(1 - rng.uniform(0.15, 0.35) * radius**2, (width, height), interpolation=cv2.INTER_LINEAR)
    lit = photo.astype(np.float32) * field[..., None] * rng.uniform(0.92, 1.04, 3)[None, None, :].astype(np.float32)
    photo = np.clip(lit, 0, 255).astype(np.uint8)
    photo = add_noise(photo, rng, degradation.noise_sigma)
    return Page(photo, None, placed)


# --- damage -----------------------------------------------------------------------------------------------


def damage_qr(
    card: np.ndarray, qr_box: tuple[int, int, int, int], rng: np.random.Generator, severity: float
) -> np.ndarray:
    """A smudge or a worn-off patch over part of the QR code (covering at least one finder pattern)."""
    damaged = card.copy()
    x0, y0, x1, _ = qr_box
    size = x1 - x0
    corner = int(rng.integers(3))  # the three finder patterns: top left, top right, bottom left
    fx = x0 + (size * 0.2 if corner in (0, 2) else size * 0.8)
    fy = y0 + (size * 0.2 if corner in (0, 1) else size * 0.8)
    mask: np.ndarray = np.zeros(card.shape[:2], np.float32)
    radius = size * (0.22 + 0.2 * severity)
    if rng.random() < 0.5:  # a greasy smudge: a blob of grey
        axes = (int(radius * rng.uniform(1.0, 1.6)), int(radius * rng.uniform(0.7, 1.1)))
        cv2.ellipse(mask, (int(fx), int(fy)), axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), radius * 0.25)
        tone = np.array([rng.uniform(90, 150)] * 3, np.float32)
    else:  # worn off: the print scraped away to the white base
        thickness = int(radius * rng.uniform(0.9, 1.3))
        end = (int(fx + rng.uniform(-1, 1) * size * 0.6), int(fy + rng.uniform(-1, 1) * size * 0.6))
        cv2.line(mask, (int(fx), int(fy)), end, 1.0, thickness)
        mask = cv2.GaussianBlur(mask, (0, 0), 2.5)
        tone = np.array([235, 238, 240], np.float32)
    blended = damaged.astype(np.float32) * (1 - mask[..., None]) + tone * mask[..., None]
    return np.clip(blended, 0, 255).astype(np.uint8)
