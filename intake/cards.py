"""Finding each ID card on a page and warping it to a canonical upright image in one perspective transform."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from ocr.reading import FieldReading

# ID-1: 85.6 x 53.98 mm. The canonical card is that at 300 dpi, the resolution the readers are tuned for.
CARD_MM = (85.6, 53.98)
CARD_ASPECT = CARD_MM[0] / CARD_MM[1]
CARD_SIZE = (1011, 638)  # width, height in pixels at 300 dpi
CARD_DPI = 300  # the resolution CARD_SIZE is at
A4_LONG_INCHES = 297 / 25.4

# The outline is found on a small copy: the card is still 250+ px long there, enough for a coarse quad, and the
# morphology costs a few milliseconds instead of a hundred. Corners are then refined on the full page.
WORK_SIDE = 1000
# The straightened card is warped in this many bands (see `warp_card`).
WARP_BANDS = 4


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
    # Fields of this side's print read already (by pairing, which needed the number), as generation `printed_as`:
    # the card's reading takes them instead of reading them again, where it reads the card as the same generation.
    printed: dict[str, FieldReading] = field(default_factory=dict)
    printed_as: str = ""


def find_cards(page: np.ndarray, dpi: float | None = None, *, max_cards: int = 2) -> list[CardOutline]:
    """Outlines of up to `max_cards` cards on a page image (BGR), largest first; [] when none is there."""
    # Power-of-two shrink factors take OpenCV's fast integer path (see `_shrink`).
    factor = 1
    while max(page.shape[:2]) / factor > WORK_SIDE * 1.25:
        factor *= 2
    scale = 1.0 / factor
    small = _shrink(page, factor)
    expected = _expected_card_long_side(page.shape[:2], dpi)
    expected_long = expected * scale if expected else None
    small_gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    mask, light_background = _card_mask(small, small_gray, expected_long)
    candidates = _candidates(mask, expected_long, perspective=not light_background)
    # On a lid the step found is the outer flank of the thin dark line the card's edge draws; the edge itself
    # lies about a pixel inside it (measured over 260 generated scans at 200 and 300 dpi).
    inset = 1.0 if light_background else 0.0
    reach = 0.15 * (expected_long or max(small.shape[:2]) / 3)
    outlines = []
    chosen = candidates[:max_cards]
    for index, (quad, score) in enumerate(chosen):
        # Coarse on the small copy, with a reach of about 13 mm: the blob may stop at the print and miss the
        # card's pale margin. The reach must not wander onto the other card of the page. Then fine on the page.
        others = None
        if len(chosen) > 1:
            others = np.zeros(small_gray.shape, np.uint8)
            for other, _ in chosen[:index] + chosen[index + 1 :]:
                cv2.fillConvexPoly(others, other.astype(np.int32), 255)
        corners, support = _refine(small_gray, quad, reach, light_background, blocked=others)
        corners = corners / scale
        for radius in (2.0 / scale + 4, 5.0):
            corners, support = _refine(page, corners, radius, light_background, inset)
        outlines.append(CardOutline(corners=_landscape_order(corners), score=score, edge_support=support))
    return outlines


def warp_card(page: np.ndarray, corners: np.ndarray, size: tuple[int, int] = CARD_SIZE) -> np.ndarray:
    """The card cut out of the page: corners (TL, TR, BR, BL) mapped onto a size[0] x size[1] image."""
    width, height = size
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    source = corners.astype(np.float32)
    card_long = float(max(np.linalg.norm(source[1] - source[0]), np.linalg.norm(source[2] - source[3])))
    shrink = card_long / width
    # A quad that is not convex (corners out of order) maps pixels outside itself: that one reads the whole page.
    box = _box_under(page, source, max(1.0, shrink)) if _convex(source) else None
    part = page if box is None else page[box[0] : box[2], box[1] : box[3]]
    source = source - (np.zeros(2, np.float32) if box is None else np.array([box[1], box[0]], np.float32))
    if shrink > 1.6:
        # A large card (a phone photo) warped straight down would alias: shrink it first (its box, not the page).
        part = cv2.resize(part, None, fx=1 / shrink, fy=1 / shrink, interpolation=cv2.INTER_AREA)
        source = source / shrink
    matrix = cv2.getPerspectiveTransform(source, target)
    if box is None or part.ndim != 3 or part.shape[2] != 3:
        return cv2.warpPerspective(
            part, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
    # OpenCV's vectorised warp covers 1 and 4 channels, not 3: three channels cost about twice the whole detour
    # through four (4.3 ms against 2.2 for a card at 300 dpi); the output is the same to within a grey level.
    # The detour goes band by band of the card, each through the box of the page under it: the four-channel copy
    # is then still in the cache when the warp reads it (a tenth less time), and a tilted card's bands cover less
    # of the page than its box.
    inverse = np.linalg.inv(matrix.astype(np.float64))  # card pixels to the part's
    card = np.empty((height, width, 3), np.uint8)
    rows = sorted({round(height * i / WARP_BANDS) for i in range(WARP_BANDS + 1)})
    for top, bottom in itertools.pairwise(rows):
        band = np.array([[0, top], [width, top], [width, bottom], [0, bottom]], np.float64)
        under = cv2.perspectiveTransform(band[None], inverse)[0]
        y0, x0, y1, x1 = _box_under(part, under, 1.0)
        # From the band's own pixels to the box's: shift down to the band, map, shift back by the box's corner.
        band_matrix = (
            np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]]) @ inverse @ np.array([[1, 0, 0], [0, 1, top], [0, 0, 1]])
        )
        warped = cv2.warpPerspective(
            cv2.cvtColor(part[y0:y1, x0:x1], cv2.COLOR_BGR2BGRA),
            band_matrix,
            (width, bottom - top),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
        cv2.cvtColor(warped, cv2.COLOR_BGRA2BGR, dst=card[top:bottom])
    return card


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


def _shrink(page: np.ndarray, factor: int) -> np.ndarray:
    """The page shrunk by a power of two, averaging each factor x factor block.

    In halvings: OpenCV vectorises only the 2 x 2 area average; one quartering of an A4 page at 300 dpi took 9 ms,
    two halvings take 4. A block's mean comes out within a grey level of the one-step result.
    """
    small = page
    while factor > 1:
        small = cv2.resize(small, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
        factor //= 2
    return small


def _convex(quad: np.ndarray) -> bool:
    return bool(cv2.isContourConvex(quad.reshape(-1, 1, 2).astype(np.float32)))


def _box_under(image: np.ndarray, quad: np.ndarray, shrink: float) -> tuple[int, int, int, int]:
    """Top, left, bottom, right of the part of the image a warp onto a convex quad reads.

    Every output pixel maps inside the quad, and bilinear reads one pixel beyond; a shrink first averages over
    `shrink` pixels more. Cut at the image's edge, the part replicates its border as the image would. At least one
    pixel even when the quad lies wholly off the image (it then replicates the nearest edge).
    """
    margin = int(np.ceil(2 * shrink)) + 2
    height, width = image.shape[:2]
    x0 = min(max(0, int(np.floor(quad[:, 0].min())) - margin), width - 1)
    y0 = min(max(0, int(np.floor(quad[:, 1].min())) - margin), height - 1)
    x1 = max(min(width, int(np.ceil(quad[:, 0].max())) + margin + 1), x0 + 1)
    y1 = max(min(height, int(np.ceil(quad[:, 1].max())) + margin + 1), y0 + 1)
    return y0, x0, y1, x1


def _median_u8(image: np.ndarray) -> float:
    """np.median of a uint8 image, found by counting: sorting a small page cost 1 ms, a histogram of it 0.5.

    The two middle ranks' values are found by counting the pixels at most v, from a guess taken on a sparse sample;
    the medians wanted here (the paper's saturation, a black-hat's background) are a few grey levels, so a count or
    two settle them.
    """
    total = image.size
    sample = np.ascontiguousarray(image[::8, ::8])
    counts = cv2.calcHist([sample], [0], None, [256], [0, 256]).ravel()
    guess = int(np.searchsorted(np.cumsum(counts), sample.size / 2))
    at_most: dict[int, int] = {}

    def count(value: int) -> int:
        if value not in at_most:
            above = cv2.threshold(image, value, 255, cv2.THRESH_BINARY)[1] if value < 255 else None
            at_most[value] = total - (cv2.countNonZero(above) if above is not None else 0)
        return at_most[value]

    middle = []
    for rank in ((total - 1) // 2, total // 2):
        value = min(255, guess)
        if count(value) > rank:
            while value > 0 and count(value - 1) > rank:
                value -= 1
        else:
            while count(value) <= rank:
                value += 1
        middle.append(value)
    return (middle[0] + middle[1]) / 2


def _morph_where_set(mask: np.ndarray, operation: int, kernel: np.ndarray) -> np.ndarray:
    """An opening or closing of a binary mask, computed only around its set pixels: the same to the bit.

    A card or two cover about a quarter of the page, and a disc's cost grows with its area. Outside the set
    pixels' box widened by the kernel the result is empty; inside, the margin is wide enough that the part's own
    border (empty for a dilation, full for an erosion) touches only pixels that stay empty either way.
    """
    result = np.zeros_like(mask)
    box = _widened(cv2.boundingRect(mask), max(kernel.shape) + 1, mask.shape)
    if box is not None:
        rows, columns = box
        result[rows, columns] = cv2.morphologyEx(np.ascontiguousarray(mask[rows, columns]), operation, kernel)
    return result


def _open_each(contours: list[np.ndarray], shape: tuple[int, ...], kernel: np.ndarray) -> np.ndarray:
    """The opening of the filled contours, each blob opened alone in its own box: the same to the bit.

    A disc that fits in the blobs fits in one of them, so the opening of all is the union of each one's; the boxes
    of two cards lying askew cover far less than the box of both.
    """
    result = np.zeros(shape[:2], np.uint8)
    for contour in contours:
        box = _widened(cv2.boundingRect(contour), max(kernel.shape) + 1, shape)
        if box is None:
            continue
        rows, columns = box
        blob = np.zeros((rows.stop - rows.start, columns.stop - columns.start), np.uint8)
        cv2.drawContours(blob, [contour], -1, 255, thickness=cv2.FILLED, offset=(-columns.start, -rows.start))
        opened = cv2.morphologyEx(blob, cv2.MORPH_OPEN, kernel)
        result[rows, columns] = cv2.bitwise_or(result[rows, columns], opened)
    return result


def _widened(rect: Sequence[int], pad: int, shape: tuple[int, ...]) -> tuple[slice, slice] | None:
    """The rows and columns of a bounding rect (x, y, w, h) widened by `pad`, within the image; None if empty."""
    x, y, w, h = rect
    if w == 0 or h == 0:
        return None
    rows = slice(max(0, y - pad), min(shape[0], y + h + pad))
    columns = slice(max(0, x - pad), min(shape[1], x + w + pad))
    return rows, columns


def _median_blur_frame(raw: np.ndarray, border: int) -> np.ndarray:
    """The pixels of medianBlur(raw, 5) within `border` of the image's edge, blurring only strips around them.

    A 5 x 5 median reads two pixels further in. The side strips are blurred lying down: OpenCV's median is slow on
    tall narrow images (1.5 ms for 877 x 17, 0.03 for its transpose), and a square window does not mind.
    """
    reach = border + 2

    def blurred(strip: np.ndarray) -> np.ndarray:
        return cv2.medianBlur(np.ascontiguousarray(strip), 5)

    return np.concatenate(
        [
            blurred(raw[:reach])[:border].ravel(),
            blurred(raw[-reach:])[-border:].ravel(),
            blurred(raw[:, :reach].T).T[:, :border].ravel(),
            blurred(raw[:, -reach:].T).T[:, -border:].ravel(),
        ]
    )


def _card_mask(small: np.ndarray, raw: np.ndarray, expected_long: float | None) -> tuple[np.ndarray, bool]:
    """Pixels that belong to a card rather than the lid (or the table) behind it; `raw` is `small` in grey."""
    mask: np.ndarray
    h, w = raw.shape
    border = max(4, min(h, w) // 40)
    light_background = float(np.median(_median_blur_frame(raw, border))) >= 110
    if light_background:
        # A scanner lid. Its brightness drifts (uneven light, lid texture, shadows) by more than a pale card
        # differs from it, so brightness alone cannot tell them apart. What the drift never has is a sharp edge:
        # the card's outline (its thickness casts a thin shadow) and its print. Edges draw the card and the
        # colour of its print fills it; darkness is no cue, since a lid shadow is dark too.
        edges = cv2.Canny(cv2.GaussianBlur(raw, (3, 3), 0), 12, 36)
        # The edge's thin dark line, shrunk with the page, is too faint a step for Canny; a black-hat (what a
        # closing fills in) still sees it.
        line = cv2.morphologyEx(raw, cv2.MORPH_BLACKHAT, np.ones((5, 5), np.uint8))
        thin = (line > max(8.0, 4.0 * _median_u8(line) + 4)).astype(np.uint8) * 255
        edges = cv2.bitwise_or(edges, thin)
        edges = cv2.dilate(edges, np.ones((3, 3), np.uint8))
        saturation = cv2.medianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2HSV)[:, :, 1], 5)
        paper_saturation = int(_median_u8(saturation))
        ink = saturation > paper_saturation + 14
        ink_mask = cv2.morphologyEx(ink.astype(np.uint8) * 255, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        mask = cv2.bitwise_or(ink_mask, edges)
    else:
        # A photo on a table: the card is the bright thing.
        _, mask = cv2.threshold(cv2.medianBlur(raw, 5), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    # The page's own edge (a lid not quite closed) is no part of a card.
    mask[:2, :] = mask[-2:, :] = 0
    mask[:, :2] = mask[:, -2:] = 0
    close = max(5, int((expected_long or max(h, w) / 3) * 0.04)) | 1
    mask = _morph_where_set(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (close, close)))
    # Fill each blob: the card's light margins and photo make holes that are not background.
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    # Cut what only touches a card along a thin line (the edge of a lid shadow, a ruled line, the other card's
    # outline): an opening wider than such lines and far narrower than a card.
    cut = max(5, int((expected_long or max(h, w) / 3) / CARD_ASPECT * 0.08)) | 1
    filled = _open_each(list(contours), mask.shape, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (cut, cut)))
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
                opened = _morph_where_set(
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


def _refine(
    image: np.ndarray,
    corners: np.ndarray,
    radius: float,
    light_background: bool,
    edge_inset: float = 0.0,
    blocked: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """Move each side onto the strongest edge nearby, fit a line through it, and intersect the lines.

    Only the middle 70 % of each side is sampled, so the card's rounded corners do not pull the lines. `image` is
    grey, or BGR of which only a band around each side is turned grey.
    """
    samples = 48
    offsets = np.arange(-radius, radius + 1.0, 1.0)
    t = np.linspace(0.15, 0.85, samples)
    centre = corners.mean(axis=0)
    bases, normals, directions = [], [], []
    for i in range(4):
        p0, p1 = corners[i], corners[(i + 1) % 4]
        direction = (p1 - p0) / max(1e-6, np.linalg.norm(p1 - p0))
        normal = np.array([-direction[1], direction[0]])
        if np.dot(normal, (p0 + p1) / 2 - centre) < 0:
            normal = -normal  # outwards
        bases.append(p0[None, :] + t[:, None] * (p1 - p0)[None, :])
        normals.append(normal)
        directions.append(direction)
    # The four sides' profiles are weighed together, with no Python loop over the samples (such loops cost more
    # than the sampling itself). Rows: side by side, sample by sample; columns: the offsets along the outward normal.
    base = np.stack(bases)  # (side, sample, xy)
    normal = np.stack(normals)
    map_x = (base[:, :, 0, None] + offsets * normal[:, None, None, 0]).reshape(4 * samples, -1).astype(np.float32)
    map_y = (base[:, :, 1, None] + offsets * normal[:, None, None, 1]).reshape(4 * samples, -1).astype(np.float32)
    sampled = _sample_grey(image, map_x, map_y, samples)
    profile = sampled.astype(np.float32)
    for i in range(4):
        # Smoothing only the sampled profiles (not the whole page) keeps noise off the gradient cheaply; each side
        # apart, so that none borrows its neighbour's rows. (Along the normal, along the side.)
        block = slice(i * samples, (i + 1) * samples)
        profile[block] = cv2.GaussianBlur(profile[block], (3, 5), 0)
    # Walking outwards: darker card to bright paper on a lid, bright card to a dark table in a photo.
    gradient = np.diff(profile, axis=1) * (1.0 if light_background else -1.0)
    steps = gradient.shape[1]
    peaks = np.zeros_like(gradient, dtype=bool)
    peaks[:, 1:-1] = (gradient[:, 1:-1] >= gradient[:, :-2]) & (gradient[:, 1:-1] >= gradient[:, 2:])
    if blocked is not None:
        inside = cv2.remap(blocked, map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT)[:, 1:] > 0
        peaks &= ~np.logical_or.accumulate(inside, axis=1)  # nothing from the first step onto another card
    if light_background:
        # On a lid the card's edge is the outermost step before flat paper; the print inside (box lines,
        # the MRZ) often steps harder, so the strongest step would pull the side inwards.
        # The noise is measured where the window is most likely paper: its outer quarter.
        # A lid shadow there is a smooth ramp, not noise: the noise is the spread about the ramp's slope, and
        # a ramp brightening outwards raises the bar by its slope. (Measured as the plain median of |gradient|,
        # a shadow's ramp hid a card's top edge and the title's underside was taken for it.)
        outer = gradient.reshape(4, samples, steps)[:, :, -max(2, steps // 4) :].reshape(4, -1)
        ramp = _row_median(outer)
        spread = _row_median(np.abs(outer - ramp[:, None]))
        threshold = np.maximum(3.0, 4.0 * spread) + np.maximum(0.0, ramp)
        peaks &= gradient >= np.repeat(threshold.astype(np.float32), samples)[:, None]
        best = np.where(peaks.any(axis=1), steps - 1 - np.argmax(peaks[:, ::-1], axis=1), 0)
    else:
        # On a table the card's edge is by far the strongest step.
        best = np.argmax(np.where(peaks, gradient, -np.inf), axis=1)
    rows = np.arange(4 * samples)
    strength = gradient[rows, best]
    bar = np.maximum(2.0, 0.35 * _row_median(strength.reshape(4, samples)))
    good = peaks[rows, best] & (strength >= np.repeat(bar.astype(np.float32), samples))
    # The step's sub-pixel place: the vertex of the parabola through the gradient around it. (A peak is never in
    # the first or last column; `inner` only keeps the other rows' look-ups in bounds.)
    inner = np.clip(best, 1, steps - 2)
    g0, g1, g2 = gradient[rows, inner - 1], gradient[rows, inner], gradient[rows, inner + 1]
    denominator = g0 - 2 * g1 + g2
    flat = np.abs(denominator) <= np.float32(1e-6)
    shift = np.float32(0.5) * (g0 - g2) / np.where(flat, np.float32(1.0), denominator)
    shift[flat] = 0.0
    # gradient[j] lies between profile samples j and j+1: the step is at offset index j + 0.5.
    offset = offsets[0] + best + 0.5 + np.clip(shift.astype(np.float64), -0.5, 0.5) - edge_inset
    found = (base + offset.reshape(4, samples, 1) * normal[:, None, :]).astype(np.float32)
    good = good.reshape(4, samples)
    lines = []
    for i in range(4):
        if np.count_nonzero(good[i]) >= samples // 4:
            vx, vy, x0, y0 = cv2.fitLine(found[i][good[i]], cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
            lines.append((float(x0), float(y0), float(vx), float(vy)))
        else:
            x0, y0 = corners[i]
            lines.append((float(x0), float(y0), float(directions[i][0]), float(directions[i][1])))
    support = np.count_nonzero(good) / (4 * samples)
    refined = np.array([_intersect(lines[i - 1], lines[i]) for i in range(4)])
    if not np.all(np.isfinite(refined)) or np.max(np.abs(refined - corners)) > radius * 4:
        return corners, support
    return refined, support


def _sample_grey(image: np.ndarray, map_x: np.ndarray, map_y: np.ndarray, samples: int) -> np.ndarray:
    """Bilinear samples of the image's grey at the maps, whose rows hold the four sides' profiles in turn.

    A BGR page is turned grey only in the box of each side's samples (plus the pixels bilinear reads beyond them),
    not as a whole: converting the whole page cost a quarter of finding the cards, the card's box still 1 ms a page.
    Cut at the page's own edge, a box replicates its border as the page would; shifted by whole pixels after the
    cast to float32 (exact), the maps sample each box where they would sample the page, so the profiles are the
    same to the bit. (Sampling the colour and turning that grey differs by a rounding, enough to move a corner by a
    hundredth of a pixel and change a borderline letter of the OCR.)
    """
    if image.ndim == 2:
        return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    height, width = image.shape[:2]
    grey = np.empty(map_x.shape, np.uint8)
    for i in range(4):
        rows = slice(i * samples, (i + 1) * samples)
        xs, ys = map_x[rows], map_y[rows]
        # Each sample reads its pixel and the next; rounding to OpenCV's 1/32 pixel may make that the one after.
        x0 = min(max(0, int(np.floor(xs.min())) - 1), width - 1)
        y0 = min(max(0, int(np.floor(ys.min())) - 1), height - 1)
        x1 = max(min(width, int(np.floor(xs.max())) + 3), x0 + 1)
        y1 = max(min(height, int(np.floor(ys.max())) + 3), y0 + 1)
        box = cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY)
        grey[rows] = cv2.remap(
            box, xs - np.float32(x0), ys - np.float32(y0), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
    return grey


def _row_median(values: np.ndarray) -> np.ndarray:
    """np.median(values, axis=1) in float64, from one partition: np.median's own checks cost more than it."""
    n = values.shape[1]
    middle = [(n - 1) // 2, n // 2]
    part = np.partition(values, middle, axis=1)
    # The two middle values' mean in the input's precision, as np.median takes it.
    return np.asarray((part[:, middle[0]] + part[:, middle[1]]) / 2, np.float64)


def _intersect(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> np.ndarray:
    """Where two lines (x, y, dx, dy) cross; NaN where they are parallel."""
    ax, ay, adx, ady = a
    bx, by, bdx, bdy = b
    determinant = bdx * ady - adx * bdy
    if abs(determinant) < 1e-9:
        return np.array([np.nan, np.nan])
    s = (bdx * (by - ay) - bdy * (bx - ax)) / determinant
    return np.array([ax + s * adx, ay + s * ady])


def _landscape_order(corners: np.ndarray) -> np.ndarray:
    """TL, TR, BR, BL with the long side on top; of the two such orders, the one whose top is higher on the page."""
    corners = _clockwise(corners)
    if np.linalg.norm(corners[1] - corners[0]) < np.linalg.norm(corners[2] - corners[1]):
        corners = np.roll(corners, -1, axis=0)
    if (corners[0, 1] + corners[1, 1]) > (corners[2, 1] + corners[3, 1]):
        corners = rotate_half_turn(corners)
    return corners
