"""Finding, straightening, orienting, classifying and pairing every card of the committed sample scans."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from intake.cards import CARD_SIZE, find_cards, warp_card
from intake.errors import NoCardFound
from intake.load import load_pages
from intake.pipeline import attachment, read_scans, straighten
from intake.synth.measure import match_card, truth_cards

# In the scan's own pixels: 4 px is 0.34 mm at 300 dpi, 0.5 mm at 200 dpi.
CORNER_TOLERANCE_PX = 4.0
SKEW_TOLERANCE_DEGREES = 0.5
PDF_DEFAULT_CEILING = 300 * 1024


def _scan_pages(samples: Path, cases: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str, Any]]:
    return [
        (case, entry["file"], page)
        for case in cases
        for entry in case["files"]
        for page in load_pages(samples / entry["file"])
    ]


@pytest.fixture(scope="module")
def straightened(samples: Path, sample_cases: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str, Any, list]]:
    return [(case, file, page, straighten(page)) for case, file, page in _scan_pages(samples, sample_cases)]


def test_every_card_is_found_with_its_corners_and_skew(straightened: list) -> None:
    problems = []
    for case, file, page, cards in straightened:
        truth = truth_cards(case, file, page.index)
        if len(cards) != len(truth):
            problems.append(f"{file} p{page.index}: {len(cards)} cards found, {len(truth)} there")
            continue
        for card in cards:
            match = match_card(card.corners, truth)
            if match is None:
                problems.append(f"{file} p{page.index}: a card where none is")
                continue
            if match.corner_error > CORNER_TOLERANCE_PX:
                problems.append(f"{file} p{page.index}: corner off by {match.corner_error:.1f} px")
            if match.skew_error > SKEW_TOLERANCE_DEGREES:
                problems.append(f"{file} p{page.index}: skew left {match.skew_error:.2f} degrees")
    assert not problems, "\n".join(problems)


def test_every_card_is_turned_upright(straightened: list) -> None:
    wrong = [
        f"{file} p{page.index} ({case['document_type']})"
        for case, file, page, cards in straightened
        for card in cards
        if (match := match_card(card.corners, truth_cards(case, file, page.index))) and not match.upright
    ]
    assert not wrong, "upside down: " + ", ".join(wrong)


def test_sides_are_told_apart(straightened: list) -> None:
    wrong = []
    for case, file, page, cards in straightened:
        for card in cards:
            match = match_card(card.corners, truth_cards(case, file, page.index))
            if match and card.side != match.truth["side"]:
                wrong.append(f"{file} p{page.index}: {card.side} for {match.truth['side']} ({case['document_type']})")
    assert not wrong, "\n".join(wrong)


def test_each_citizens_sides_are_paired_named_and_merged(samples: Path, sample_cases: list[dict[str, Any]]) -> None:
    wrong = []
    for case in sample_cases:
        pairs = read_scans([samples / entry["file"] for entry in case["files"]])
        if len(pairs) != 1 or pairs[0].front is None or pairs[0].back is None:
            wrong.append(f"{case['case']}: {len(pairs)} cards, sides {[c.side for p in pairs for c in p.images]}")
            continue
        if pairs[0].document_type != case["document_type"]:
            wrong.append(f"{case['case']}: {pairs[0].document_type} for {case['document_type']}")
        merged = attachment(pairs[0].images)
        # The procedure's ceiling is 5 MB; by default the attachment is far smaller, at full 300 dpi.
        if not (merged.pages == 1 and merged.dpi == 300 and merged.size < PDF_DEFAULT_CEILING):
            wrong.append(f"{case['case']}: PDF of {merged.pages} pages, {merged.dpi} dpi, {merged.size} bytes")
    assert not wrong, "\n".join(wrong)


def test_the_warped_card_is_canonical_and_matches_the_card(samples: Path, sample_cases: list[dict[str, Any]]) -> None:
    case = next(c for c in sample_cases if c["layout"] == "separate")
    page = load_pages(samples / case["files"][0]["file"])[0]
    outline = find_cards(page.image, page.dpi)[0]
    card = warp_card(page.image, outline.corners)
    assert card.shape == (CARD_SIZE[1], CARD_SIZE[0], 3)
    # The card's edge is gone: the warped image has no lid-white border along its sides.
    border = np.concatenate([card[3, 40:-40].ravel(), card[-4, 40:-40].ravel()])
    assert np.mean(border) < 245


def test_the_warp_reads_only_the_cards_box_and_still_matches_the_whole_page(
    samples: Path, sample_cases: list[dict[str, Any]]
) -> None:
    """The warp cuts out the card's box and goes through four channels; a plain warp of the whole page must agree
    to within a grey level, also for a card running off the page's edge."""
    import cv2

    case = next(c for c in sample_cases if c["layout"] == "separate")
    page = load_pages(samples / case["files"][0]["file"])[0]
    corners = find_cards(page.image, page.dpi)[0].corners
    target = np.array([[0, 0], [CARD_SIZE[0], 0], [CARD_SIZE[0], CARD_SIZE[1]], [0, CARD_SIZE[1]]], np.float32)
    off_the_edge = corners - [corners[:, 0].min() + 150, 0]
    for quad in (corners, off_the_edge):
        matrix = cv2.getPerspectiveTransform(quad.astype(np.float32), target)
        plain = cv2.warpPerspective(
            page.image, matrix, CARD_SIZE, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        card = warp_card(page.image, quad)
        assert card.shape == plain.shape and card.dtype == np.uint8
        assert int(np.abs(card.astype(np.int16) - plain).max()) <= 1


def test_the_masks_shortcuts_are_exact() -> None:
    """The card mask's shortcuts (medians by counting, morphology only around the set pixels, each blob opened
    alone) must give what the plain OpenCV and NumPy calls give."""
    import cv2

    from intake.cards import _median_u8, _morph_where_set, _open_each

    rng = np.random.default_rng(11)
    image = np.clip(rng.normal(6, 5, (301, 203)), 0, 255).astype(np.uint8)
    for values in (image, image[:-1], 255 - image, rng.integers(0, 256, (64, 65), dtype=np.uint8)):
        assert _median_u8(values) == float(np.median(values))
    mask = np.zeros((300, 400), np.uint8)
    cv2.rectangle(mask, (40, 50), (160, 120), 255, -1)
    cv2.circle(mask, (300, 200), 60, 255, -1)
    cv2.line(mask, (160, 85), (250, 190), 255, 2)  # a thin bridge the opening cuts
    mask[295:, 100:140] = 255  # set pixels on the image's own edge
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (13, 13))
    for operation in (cv2.MORPH_OPEN, cv2.MORPH_CLOSE):
        assert np.array_equal(_morph_where_set(mask, operation, disc), cv2.morphologyEx(mask, operation, disc))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(mask)
    cv2.drawContours(filled, contours, -1, 255, thickness=cv2.FILLED)
    opened = _open_each(list(contours), mask.shape, disc)
    assert np.array_equal(opened, cv2.morphologyEx(filled, cv2.MORPH_OPEN, disc))


def test_a_page_without_a_card_is_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    blank = np.clip(rng.normal(247, 3, (2339, 1654, 3)), 0, 255).astype(np.uint8)
    import cv2

    path = tmp_path / "blank.jpg"
    cv2.imwrite(str(path), blank)
    page = load_pages(path)[0]
    assert find_cards(page.image, page.dpi) == []
    with pytest.raises(NoCardFound) as raised:
        straighten(page)
    assert "blank.jpg" in str(raised.value)


def test_a_lid_shadow_over_the_cards_top_edge(samples: Path, sample_cases: list[dict[str, Any]]) -> None:
    """A card lying near the lid's shadow: the paper at its top edge is darker than the paper elsewhere.

    Measured with the plain median of the step sizes, the shadow's ramp hid that edge and the title's underside was
    taken for it (a CMND 9 front cut 43 px low, every field read from the wrong place).
    """
    case = next(c for c in sample_cases if any(e["file"] == "SCAN0140.JPG" for e in c["files"]))
    page = load_pages(samples / "SCAN0140.JPG")[0]
    truth = truth_cards(case, "SCAN0140.JPG", 0)
    top = int(min(y for _, y in truth[0]["corners"])) - 135
    # The shadow of the generator's scans (intake.synth.scan): 44 % darker at the page's edge, fading in ~74 px.
    image = page.image[top:].astype(np.float32)
    shade = 1 - 0.44 * np.exp(-np.arange(image.shape[0], dtype=np.float32) / 74.0)
    image = np.clip(image * shade[:, None, None], 0, 255).astype(np.uint8)
    shifted = [dict(card, corners=[[x, y - top] for x, y in card["corners"]]) for card in truth]
    outlines = find_cards(image, page.dpi)
    assert len(outlines) == 1
    found = match_card(outlines[0].corners, shifted)
    assert found is not None and found.corner_error <= CORNER_TOLERANCE_PX, found


def test_colour_cues_and_their_fallback(straightened: list) -> None:
    """The front's emblem and the back's seal settle most sides' way up without reading; a grey scan has neither
    and is read both ways up, to the same verdict."""
    import cv2

    from ocr.classify import classify_side

    by_cue = [card for _, _, _, cards in straightened for card in cards if {"emblem", "seal"} & set(card.evidence)]
    assert len(by_cue) >= 20
    for card in by_cue[::4]:
        grey = cv2.cvtColor(cv2.cvtColor(card.image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        turned = cv2.rotate(grey, cv2.ROTATE_180)
        for image, upside_down in ((grey, False), (turned, True)):
            verdict = classify_side(image)
            assert not {"emblem", "seal"} & set(verdict.evidence)
            assert (verdict.upside_down, verdict.side) == (upside_down, card.side), (card.source, card.evidence)


def test_fronts_named_by_sight_are_named_alike_by_their_words(straightened: list) -> None:
    """The 2024 card's chip, the CMND's dotted rules and the barcode CCCD's red number name a front without reading
    a line; a grey copy has no colour to see (and the rules are no cue without the emblem) and is named by its
    words, to the same generation."""
    import cv2

    from ocr.classify import classify_side

    cues = {"chip", "rules", "red number"}
    by_sight = [card for _, _, _, cards in straightened for card in cards if cues & set(card.evidence)]
    assert {cue for card in by_sight for cue in cues & set(card.evidence)} == cues
    for card in by_sight:
        grey = cv2.cvtColor(cv2.cvtColor(card.image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        verdict = classify_side(grey)
        assert not cues & set(verdict.evidence)
        assert verdict.side == "front", (card.source, verdict.evidence)
        # A CMND front the words name only as "a CMND" takes its generation from its number once paired.
        assert verdict.document_type in (card.document_type, "cmnd"), (card.source, verdict.evidence)


def test_cmnd_backs_are_named_by_their_fingerprint_boxes(straightened: list) -> None:
    """A CMND back is named by the two fingerprint boxes on its left, without reading a line, whichever way up and
    in grey; no other side is named so (the barcode CCCD's back has the boxes, but its QR names it first)."""
    import cv2

    from ocr.classify import classify_side

    sides = [(case, card) for case, _, _, cards in straightened for card in cards]
    backs = [card for case, card in sides if case["document_type"].startswith("cmnd") and card.side == "back"]
    assert len(backs) >= 4
    assert all("fingerprints" in card.evidence for card in backs), [card.evidence for card in backs]
    named_so = [card for _, card in sides if "fingerprints" in card.evidence]
    assert {id(card) for card in named_so} == {id(card) for card in backs}
    for card in backs:
        grey = cv2.cvtColor(card.image, cv2.COLOR_BGR2GRAY)
        for image, upside_down in ((grey, False), (cv2.rotate(grey, cv2.ROTATE_180), True)):
            verdict = classify_side(image)
            assert (verdict.side, verdict.document_type, verdict.upside_down) == ("back", "cmnd", upside_down)
            assert "fingerprints" in verdict.evidence


def test_cmnd_fronts_are_told_apart_by_their_title_and_agree_with_their_number(straightened: list) -> None:
    """The 1999 card's red title along its top, the 2012 card's black motto there: the generation without reading
    a line, the same as the digits of the number say (9 or 12)."""
    import cv2

    from ocr.classify import _cmnd_by_number
    from ocr.engine import get_engine

    fronts = [
        (case, card)
        for case, _, _, cards in straightened
        for card in cards
        if case["document_type"].startswith("cmnd") and card.side == "front" and "rules" in card.evidence
    ]
    assert {case["document_type"] for case, _ in fronts} == {"cmnd9", "cmnd12"}
    for case, card in fronts:
        assert f"{case['document_type']} title" in card.evidence, (case["case"], card.evidence)
        assert card.document_type == case["document_type"]
        gray = cv2.cvtColor(card.image, cv2.COLOR_BGR2GRAY)
        assert _cmnd_by_number(gray, get_engine()) == case["document_type"], case["case"]
