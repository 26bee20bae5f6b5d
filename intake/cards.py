"""Finding each ID card on a page and warping it to a canonical upright image in one perspective transform."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

# ID-1: 85.6 x 53.98 mm. The canonical card is that at 300 dpi, the resolution the readers are tuned for.
CARD_MM = (85.6, 53.98)
CARD_ASPECT = CARD_MM[0] / CARD_MM[1]
CARD_SIZE = (1011, 638)  # width, height in pixels at 300 dpi
A4_LONG_INCHES = 297 / 25.4

# The outline is found on a small copy: the card is still 250+ px long there, enough for a coarse quad, and the
# morphology costs a few milliseconds instead of a hundred. Corners are then refined on the full page.
WORK_SIDE = 1000


@dataclass
class CardOutline:
    """Where one card lies on a page: its corners in page pixels, TL, TR, BR, BL of the landscape card."""

    corners: np.ndarray  # shape (4, 2), float64
    score: float  # how card-like the outline is, 0..1
    edge_support: float = 1.0  # share of the outline's samples that found a real edge


@dataclass
class CardImage:
    """One straightened card side, upright, at the canonical size; where it came from and what it is."""

    image: np.ndarray  # BGR uint8, CARD_SIZE
    source: str
    page: int
    corners: np.ndarray  # (4, 2) page pixels of the upright card's TL, TR, BR, BL
    side: str = "unknown"  # front | back | unknown
    document_type: str = "unknown"
    orientation_confidence: float = 0.0
    evidence: list[str] = field(default_factory=list)


def find_cards(page: np.ndarray, dpi: float | None = None, *, max_cards: int = 2) -> list[CardOutline]:
    """Outlines of up to `max_cards` cards on a page image (BGR), largest first; [] when none is there."""
    # Power-of-two shrink factors take OpenCV's fast integer path (5 ms for an A4 page at 300 dpi, not 19).
    factor = 1
    while max(page.shape[:2]) / factor > WORK_SIDE * 1.25:
        factor *= 2
    scale = 1.0 / factor
    small = cv2.resize(page, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if factor > 1 else page
    expected = _expected_card_long_side(page.shape[:2], dpi)
    expected_long = expected * scale if expected else None
    mask, light_background = _card_mask(small, expected_long)
    candidates = _candidates(mask, expected_long, perspective=not light_background)
    small_gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    # On a lid the step found is the outer flank of the thin dark line the card's edge draws; the edge itself
    # lies about a pixel inside it (measured over 260 generated scans at 200 and 300 dpi).
    inset = 1.0 if light_background else 0.0
    reach = 0.15 * (expected_long or max(small.shape[:2]) / 3)
    outlines = []
    chosen = candidates[:max_cards]
    for index, (quad, score) in enumerate(chosen):
        # Coarse on the small copy, with a reach of about 13 mm: the blob may stop at the print and miss the
        # card's pale margin. The reach must not wander onto the other card of the page. Then fine on the page.
        others = np.zeros(small_gray.shape, np.uint8)
        for other, _ in chosen[:index] + chosen[index + 1 :]:
            cv2.fillConvexPoly(others, other.astype(np.int32), 255)
        corners, support = _refine(small_gray, quad, reach, light_background, blocked=others)
        corners = corners / scale
        radii = (2.0 / scale + 4, 5.0)
        strip, origin = _gray_around(page, corners, radii)
        for radius in radii:
            corners, support = _refine(strip, corners, radius, light_background, inset, origin=origin)
        outlines.append(CardOutline(corners=_landscape_order(corners), score=score, edge_support=support))
    return outlines


def warp_card(page: np.ndarray, corners: np.ndarray, size: tuple[int, int] = CARD_SIZE) -> np.ndarray:
    """The card cut out of the page: corners (TL, TR, BR, BL) mapped onto a size[0] x size[1] image."""
    width, height = size
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    source = corners.astype(np.float32)
    card_long = float(max(np.linalg.norm(source[1] - source[0]), np.linalg.norm(source[2] - source[3])))
    shrink = card_long / width
    if shrink > 1.6:
        # A large card (a phone photo) warped straight down would alias: shrink the page first.
        page = cv2.resize(page, None, fx=1 / shrink, fy=1 / shrink, interpolation=cv2.INTER_AREA)
        source = source / shrink
    matrix = cv2.getPerspectiveTransform(source, target)
    return cv2.warpPerspective(page, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def rotate_half_turn(corners: np.ndarray) -> np.ndarray:
    """The same outline seen upside down: what was the bottom-right corner becomes the top-left."""
    return np.roll(corners, -2, axis=0)


def _expected_card_long_side(shape: tuple[int, ...], dpi: float | None) -> float | None:
    if dpi:
        return CARD_MM[0] / 25.4 * dpi
    # No resolution in the file: a flatbed page is A4 (or close), so its long side tells the dpi. Phone photos
    # fail this guess; they get no size prior and rely on shape alone.
    long_side, short_side = max(shape), min(shape)
    if abs(long_side / short_side - 297 / 210) < 0.04:
        return CARD_MM[0] / 25.4 * long_side / A4_LONG_INCHES
    return None


def _card_mask(small: np.ndarray, expected_long: float | None) -> tuple[np.ndarray, bool]:
    """Pixels that belong to a card rather than the lid (or the table) behind it."""
    mask: np.ndarray
    raw = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    gray = cv2.medianBlur(raw, 5)
    h, w = gray.shape
    border = max(4, min(h, w) // 40)
    frame = np.concatenate(
        [gray[:border].ravel(), gray[-border:].ravel(), gray[:, :border].ravel(), gray[:, -border:].ravel()]
    )
    light_background = float(np.median(frame)) >= 110
    if light_background:
        # A scanner lid. Its brightness drifts (uneven light, lid texture, shadows) by more than a pale card
        # differs from it, so brightness alone cannot tell them apart. What the drift never has is a sharp edge:
        # the card's outline (its thickness casts a thin shadow) and its print. Edges draw the card and the
        # colour of its print fills it; darkness is no cue, since a lid shadow is dark too.
        edges = cv2.Canny(cv2.GaussianBlur(raw, (3, 3), 0), 12, 36)
        # The edge's thin dark line, shrunk with the page, is too faint a step for Canny; a black-hat (what a
        # closing fills in) still sees it.
        line = cv2.morphologyEx(raw, cv2.MORPH_BLACKHAT, np.ones((5, 5), np.uint8))
        thin = (line > max(8.0, 4.0 * float(np.median(line)) + 4)).astype(np.uint8) * 255
        edges = cv2.bitwise_or(edges, thin)
        edges = cv2.dilate(edges, np.ones((3, 3), np.uint8))
        saturation = cv2.medianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2HSV)[:, :, 1], 5)
        paper_saturation = int(np.median(saturation))
        ink = saturation > paper_saturation + 14
        ink_mask = cv2.morphologyEx(ink.astype(np.uint8) * 255, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        mask = cv2.bitwise_or(ink_mask, edges)
    else:
        # A photo on a table: the card is the bright thing.
        _, mask = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    # The page's own edge (a lid not quite closed) is no part of a card.
    mask[:2, :] = mask[-2:, :] = 0
    mask[:, :2] = mask[:, -2:] = 0
    close = max(5, int((expected_long or max(h, w) / 3) * 0.04)) | 1
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (close, close)))
    # Fill each blob: the card's light margins and photo make holes that are not background.
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(mask)
    cv2.drawContours(filled, contours, -1, 255, thickness=cv2.FILLED)
    # Cut what only touches a card along a thin line (the edge of a lid shadow, a ruled line, the other card's
    # outline): an opening wider than such lines and far narrower than a card.
    cut = max(5, int((expected_long or max(h, w) / 3) / CARD_ASPECT * 0.08)) | 1
    filled = cv2.morphologyEx(filled, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (cut, cut)))
    return filled, light_background


def _candidates(mask: np.ndarray, expected_long: float | None, *, perspective: bool) -> list[tuple[np.ndarray, float]]:
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    min_area = mask.shape[0] * mask.shape[1] * 0.01
    short = (expected_long or max(mask.shape) / 3) / CARD_ASPECT
    found: list[tuple[np.ndarray, float, float]] = []
    for contour in contours:
        if cv2.contourArea(contour) < min_area:
            continue
        judged = _judge(contour, expected_long, perspective)
        if judged is None:
            # Two cards laid close together, or a card touching the lid's shadow, make one blob. Opening it
            # with a disc wider than the join but narrower than a card parts them.
            judged_parts = []
            blob = np.zeros_like(mask)
            cv2.drawContours(blob, [contour], -1, 255, thickness=cv2.FILLED)
            for fraction in (0.2, 0.35):
                size = max(3, int(short * fraction)) | 1
                opened = cv2.morphologyEx(
                    blob, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
                )
                parts, _ = cv2.findContours(opened, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
                judged_parts = [
                    j
                    for part in parts
                    if cv2.contourArea(part) >= min_area and (j := _judge(part, expected_long, perspective))
                ]
                if judged_parts:
                    break
            found += judged_parts
        else:
            found.append(judged)
    found.sort(key=lambda item: item[2], reverse=True)
    return [(quad, score) for quad, score, _ in found]


def _judge(
    contour: np.ndarray, expected_long: float | None, perspective: bool
) -> tuple[np.ndarray, float, float] | None:
    """A blob's quad, score and area if it is shaped and sized like a card; None if not."""
    area = cv2.contourArea(contour)
    # The hull, not the blob: where the card's outline has a gap the blob is not filled, but the print spread
    # over the card still spans it.
    hull = cv2.convexHull(contour)
    hull_area = cv2.contourArea(hull)
    (_, _), (rw, rh), _ = cv2.minAreaRect(hull)
    if min(rw, rh) < 20 or area < 0.5 * hull_area:
        return None
    long_side, short_side = max(rw, rh), min(rw, rh)
    aspect = long_side / short_side
    fill = hull_area / (rw * rh)
    # A flatbed shows the card as a rectangle: where the blob misses a pale margin, a 4-gon fitted to it tilts,
    # while the rectangle stays parallel to the edge it has to find. Only photos need the 4-gon.
    quad = _quad(hull) if perspective else _clockwise(cv2.boxPoints(cv2.minAreaRect(hull)).astype(np.float64))
    quad_long = float(max(np.linalg.norm(quad[1] - quad[0]), np.linalg.norm(quad[2] - quad[3])))
    quad_short = float(max(np.linalg.norm(quad[2] - quad[1]), np.linalg.norm(quad[3] - quad[0])))
    quad_aspect = max(quad_long, quad_short) / max(1.0, min(quad_long, quad_short))
    # Perspective (photos) bends the aspect; the quad's own aspect is the better measure then.
    aspect_error = min(abs(aspect - CARD_ASPECT), abs(quad_aspect - CARD_ASPECT)) / CARD_ASPECT
    if aspect_error > 0.22 or fill < 0.85:
        return None
    if expected_long and not 0.8 < long_side / expected_long < 1.25:
        return None
    score = max(0.0, 1.0 - aspect_error * 3) * min(1.0, fill / 0.95)
    return quad, score, hull_area


def _quad(contour: np.ndarray) -> np.ndarray:
    """Four corners of a blob: a 4-gon fitted to its hull (perspective), else its minimum-area rectangle."""
    hull = cv2.convexHull(contour)
    perimeter = cv2.arcLength(hull, True)
    for epsilon in (0.02, 0.03, 0.05):
        approx = cv2.approxPolyDP(hull, epsilon * perimeter, True)
        if len(approx) == 4:
            return _clockwise(approx.reshape(4, 2).astype(np.float64))
    return _clockwise(cv2.boxPoints(cv2.minAreaRect(contour)).astype(np.float64))


def _clockwise(points: np.ndarray) -> np.ndarray:
    centre = points.mean(axis=0)
    angles = np.arctan2(points[:, 1] - centre[1], points[:, 0] - centre[0])
    return points[np.argsort(angles)]  # y grows downwards, so increasing angle runs clockwise on screen


def _gray_around(page: np.ndarray, corners: np.ndarray, radii: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The grey of the part of the page the fine passes of `_refine` can sample, and its top-left in the page.

    Converting the whole page cost a quarter of finding the cards. A pass samples within its radius of the
    corners it is given, and moves them by at most four radii (else it keeps them): the box of the corners widened
    by that, plus two pixels for the interpolation, holds every sample. Cut at the page's own edge, the strip
    replicates its border as the page would: the corners come out the same to the bit.
    """
    margin = sum(5.0 * radius for radius in radii) + 2.0
    height, width = page.shape[:2]
    x0 = max(0, int(np.floor(corners[:, 0].min() - margin)))
    y0 = max(0, int(np.floor(corners[:, 1].min() - margin)))
    x1 = min(width, int(np.ceil(corners[:, 0].max() + margin)) + 1)
    y1 = min(height, int(np.ceil(corners[:, 1].max() + margin)) + 1)
    if x0 >= x1 or y0 >= y1:
        return cv2.cvtColor(page, cv2.COLOR_BGR2GRAY), np.zeros(2)
    return cv2.cvtColor(page[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY), np.array([x0, y0], np.float64)


def _refine(
    gray: np.ndarray,
    corners: np.ndarray,
    radius: float,
    light_background: bool,
    edge_inset: float = 0.0,
    blocked: np.ndarray | None = None,
    origin: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """Move each side onto the strongest edge nearby, fit a line through it, and intersect the lines.

    Only the middle 70 % of each side is sampled, so the card's rounded corners do not pull the lines. `gray` may
    be a part of the page whose top-left lies at `origin` (x, y) in it; corners stay in page pixels.
    """
    shift_x, shift_y = (np.float32(origin[0]), np.float32(origin[1])) if origin is not None else (0, 0)
    centre = corners.mean(axis=0)
    lines = []
    supported = 0
    samples = 48
    offsets = np.arange(-radius, radius + 1.0, 1.0)
    for i in range(4):
        p0, p1 = corners[i], corners[(i + 1) % 4]
        direction = (p1 - p0) / max(1e-6, np.linalg.norm(p1 - p0))
        normal = np.array([-direction[1], direction[0]])
        if np.dot(normal, (p0 + p1) / 2 - centre) < 0:
            normal = -normal  # outwards
        t = np.linspace(0.15, 0.85, samples)
        base = p0[None, :] + t[:, None] * (p1 - p0)[None, :]
        points = base[:, None, :] + offsets[None, :, None] * normal[None, None, :]
        # Shifted after the cast to float32: an integer off a float32 is exact, so the strip is sampled where the
        # page would be, to the bit.
        map_x, map_y = points[..., 0].astype(np.float32) - shift_x, points[..., 1].astype(np.float32) - shift_y
        profile: np.ndarray = cv2.remap(
            gray,
            map_x,
            map_y,
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        ).astype(np.float32)
        # Smoothing only the sampled profiles (not the whole page) keeps noise off the gradient cheaply.
        profile = cv2.GaussianBlur(profile, (3, 5), 0)  # (along the normal, along the side)
        # Walking outwards: darker card to bright paper on a lid, bright card to a dark table in a photo.
        gradient = np.diff(profile, axis=1) * (1.0 if light_background else -1.0)
        peaks = np.zeros_like(gradient, dtype=bool)
        peaks[:, 1:-1] = (gradient[:, 1:-1] >= gradient[:, :-2]) & (gradient[:, 1:-1] >= gradient[:, 2:])
        if blocked is not None and blocked.any():
            inside = cv2.remap(blocked, map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT)[:, 1:] > 0
            peaks &= ~np.logical_or.accumulate(inside, axis=1)  # nothing from the first step onto another card
        if light_background:
            # On a lid the card's edge is the outermost step before flat paper; the print inside (box lines,
            # the MRZ) often steps harder, so the strongest step would pull the side inwards.
            # The noise is measured where the window is most likely paper: its outer quarter.
            # A lid shadow there is a smooth ramp, not noise: the noise is the spread about the ramp's slope, and
            # a ramp brightening outwards raises the bar by its slope. (Measured as the plain median of |gradient|,
            # a shadow's ramp hid a card's top edge and the title's underside was taken for it.)
            outer = gradient[:, -max(2, gradient.shape[1] // 4) :]
            ramp = float(np.median(outer))
            threshold = max(3.0, 4.0 * float(np.median(np.abs(outer - ramp)))) + max(0.0, ramp)
            peaks &= gradient >= threshold
            best = np.where(peaks.any(axis=1), gradient.shape[1] - 1 - np.argmax(peaks[:, ::-1], axis=1), 0)
        else:
            # On a table the card's edge is by far the strongest step.
            best = np.argmax(np.where(peaks, gradient, -np.inf), axis=1)
        strength = gradient[np.arange(samples), best]
        good = peaks[np.arange(samples), best] & (strength >= max(2.0, 0.35 * float(np.median(strength))))
        edge_points = []
        for row in np.nonzero(good)[0]:
            j = int(best[row])
            g0, g1, g2 = gradient[row, j - 1], gradient[row, j], gradient[row, j + 1]
            denominator = g0 - 2 * g1 + g2
            shift = 0.5 * (g0 - g2) / denominator if abs(denominator) > 1e-6 else 0.0
            # gradient[j] lies between profile samples j and j+1: the step is at offset index j + 0.5.
            offset = offsets[0] + j + 0.5 + max(-0.5, min(0.5, float(shift))) - edge_inset
            edge_points.append(base[row] + offset * normal)
        supported += len(edge_points)
        if len(edge_points) >= samples // 4:
            vx, vy, x0, y0 = cv2.fitLine(np.array(edge_points, np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
            lines.append((np.array([x0, y0], np.float64), np.array([vx, vy], np.float64)))
        else:
            lines.append((p0.astype(np.float64), direction))
    refined = np.array([_intersect(lines[i - 1], lines[i]) for i in range(4)])
    if not np.all(np.isfinite(refined)) or np.max(np.abs(refined - corners)) > radius * 4:
        return corners, supported / (4 * samples)
    return refined, supported / (4 * samples)


def _intersect(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    (pa, da), (pb, db) = a, b
    matrix = np.array([[da[0], -db[0]], [da[1], -db[1]]])
    if abs(np.linalg.det(matrix)) < 1e-9:
        return np.array([np.nan, np.nan])
    s, _ = np.linalg.solve(matrix, pb - pa)
    return pa + s * da


def _landscape_order(corners: np.ndarray) -> np.ndarray:
    """TL, TR, BR, BL with the long side on top; of the two such orders, the one whose top is higher on the page."""
    corners = _clockwise(corners)
    if np.linalg.norm(corners[1] - corners[0]) < np.linalg.norm(corners[2] - corners[1]):
        corners = np.roll(corners, -1, axis=0)
    if (corners[0, 1] + corners[1, 1]) > (corners[2, 1] + corners[3, 1]):
        corners = rotate_half_turn(corners)
    return corners
