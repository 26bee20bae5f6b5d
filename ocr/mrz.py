"""The machine-readable zone of Vietnamese chip cards (ICAO 9303 TD1): check digits, composing, parsing, reading."""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ocr.components import components
from ocr.dates import DateError, century_of, from_yymmdd

if TYPE_CHECKING:
    from ocr.engine import OcrEngine

TD1_LINE_LENGTH = 30
FILLER = "<"
NO_EXPIRY = "991231"  # (unsure) what a holder without expiry carries; see the card reference

_WEIGHTS = (7, 3, 1)
_SEX_CODES = {"Nam": "M", "Nữ": "F"}


class MrzError(ValueError):
    """An MRZ could not be composed from the values given."""


def _char_value(char: str) -> int:
    if char.isdigit() and char.isascii():
        return int(char)
    if char == FILLER:
        return 0
    if "A" <= char <= "Z":
        return ord(char) - ord("A") + 10
    raise MrzError(f"character {char!r} is not allowed in an MRZ")


def check_digit(s: str) -> int:
    """ICAO 9303 check digit: weights 7, 3, 1 repeating, sum modulo 10."""
    return sum(_char_value(char) * _WEIGHTS[i % 3] for i, char in enumerate(s)) % 10


def strip_diacritics(name: str) -> str:
    """Remove Vietnamese tone and vowel marks; Đ/đ become D/d (they do not decompose)."""
    decomposed = unicodedata.normalize("NFD", name.replace("Đ", "D").replace("đ", "d"))
    bare = "".join(char for char in decomposed if unicodedata.category(char) != "Mn")
    return unicodedata.normalize("NFC", bare)


def _yymmdd(value: date) -> str:
    return value.strftime("%y%m%d")


def _pad(text: str) -> str:
    return text[:TD1_LINE_LENGTH].ljust(TD1_LINE_LENGTH, FILLER)


def name_field(full_name: str) -> str:
    """Line 3 of a TD1 MRZ: SURNAME<<MIDDLE<GIVEN, bare capitals, padded or cut to 30."""
    words = strip_diacritics(unicodedata.normalize("NFC", full_name)).upper().split()
    if not words:
        raise MrzError("empty name")
    for word in words:
        if not all("A" <= char <= "Z" for char in word):
            raise MrzError(f"name word {word!r} has characters an MRZ cannot hold")
    surname, given_names = words[0], words[1:]
    return _pad(surname + FILLER * 2 + FILLER.join(given_names))


def compose_td1(
    id_number: str,
    date_of_birth: date,
    sex: str,
    date_of_expiry: date | None,
    full_name: str,
) -> tuple[str, str, str]:
    """The three 30-character lines a Vietnamese chip card prints for these values."""
    if len(id_number) != 12 or not (id_number.isdigit() and id_number.isascii()):
        raise MrzError(f"ID number {id_number!r} is not 12 digits")
    if sex not in _SEX_CODES:
        raise MrzError(f"sex {sex!r} is neither 'Nam' nor 'Nữ'")
    document_number = id_number[-9:]
    line1 = (
        "IDVNM"
        + document_number
        + str(check_digit(document_number))
        + id_number
        + FILLER * 2
        + str(check_digit(id_number))
    )
    birth = _yymmdd(date_of_birth)
    expiry = NO_EXPIRY if date_of_expiry is None else _yymmdd(date_of_expiry)
    line2 = birth + str(check_digit(birth)) + _SEX_CODES[sex] + expiry + str(check_digit(expiry)) + "VNM" + FILLER * 11
    composite = line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29]
    line2 += str(check_digit(composite))
    line3 = name_field(full_name)
    assert len(line1) == len(line2) == TD1_LINE_LENGTH
    return line1, line2, line3


def td1_checks(lines: tuple[str, str, str] | list[str]) -> dict[str, bool]:
    """Which of a TD1 MRZ's check digits hold (document number, ID, birth, expiry, composite)."""
    line1, line2 = lines[0], lines[1]
    if len(line1) != TD1_LINE_LENGTH or len(line2) != TD1_LINE_LENGTH:
        return {
            "document_number": False,
            "id_number": False,
            "birth": False,
            "expiry": False,
            "composite": False,
        }

    def holds(field: str, digit: str) -> bool:
        try:
            return digit.isdigit() and check_digit(field) == int(digit)
        except MrzError:
            return False

    return {
        "document_number": holds(line1[5:14], line1[14]),
        "id_number": holds(line1[15:27], line1[29]),
        "birth": holds(line2[0:6], line2[6]),
        "expiry": holds(line2[8:14], line2[14]),
        "composite": holds(line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29], line2[29]),
    }


# Parsing OCR output of an MRZ. Tesseract's `eng` model drops runs of `<` and now and then inserts a character,
# so lines are cut at their anchors and fixed positions, never by trusting their length; characters are repaired
# only where a check digit then confirms the repair.

MRZ_WHITELIST = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"
_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DIGITS = frozenset("0123456789")
_ALPHABET = frozenset(MRZ_WHITELIST)
_TO_DIGIT = {"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "Z": "2", "S": "5", "B": "8", "G": "6"}
_TO_LETTER = {"0": "O", "1": "I", "5": "S", "8": "B", "2": "Z"}
_TO_LETTER_TABLE = str.maketrans("01582", "OISBZ")
# `eng` reads a pair of fillers `<<` as `<K<` more often than not (measured on the sample backs).
_FILLER_LOOKALIKES = frozenset("<K")
# What a run of `<` turns into besides K, seen on binarised reads; only ever dropped, never taken for a name.
_FILLER_NOISE = frozenset("<KSCEG")
_CHEVRONS = str.maketrans({"«": "<", "‹": "<", "＜": "<", "〈": "<", "(": "<", "[": "<", "{": "<"})
_SEXES = {"M": "Nam", "F": "Nữ"}
# Chip cards date from 2021, so their expiry years are in the 2000s (until the 2090s, when this needs a look).
_EXPIRY_CENTURY = 2000
# More extra characters than this in one line is no longer a misread line but something else.
_MAX_INSERTIONS = 2
_CHECK_NAMES = ("document_number", "id_number", "birth", "expiry", "composite")

# A Vietnamese syllable without its marks: the "check digit" of a name word. Words of minority languages (KSOR,
# ADRONG) fail it, so it only ever chooses between repairs of a word that fails it, never rejects a word as read.
_SYLLABLE = re.compile(
    r"(?:NGH|NG|GH|GI|KH|NH|PH|TH|TR|CH|QU|[BCDGHKLMNPRSTVX])?"
    r"(?:UYE|UYA|UYU|UOI|UOU|OAI|OAO|OAY|OEO|UAY|IEU|YEU|AI|AO|AU|AY|EO|EU|IA|IE|IU|OA|OE|OI|OO|UA|UE|UI|UO|UU"
    r"|UY|YE|A|E|I|O|U|Y)"
    r"(?:CH|NG|NH|C|M|N|P|T)?"
)


@dataclass
class MrzData:
    """What a TD1 MRZ says, which of its check digits hold, and which characters were repaired to make them hold.

    When a field's check fails its value is as read (it may then hold letters); `id_number` and
    `document_number` are empty when line 1 was not found. `date_of_birth` is None when unreadable;
    `date_of_expiry` is None when unreadable and when the card carries the no-expiry filler 991231 (then
    `checks["expiry"]` holds).
    """

    id_number: str
    document_number: str
    date_of_birth: date | None
    sex: str | None  # "Nam" | "Nữ" | None
    date_of_expiry: date | None
    name_words: list[str]  # bare capitals, surname first
    checks: dict[str, bool]  # td1_checks's five, and "document_matches_id"
    repairs: list[str]
    lines: tuple[str, str, str]

    @property
    def verified(self) -> bool:
        """Every check digit holds and the document number is the ID number's last nine digits."""
        return all(self.checks.values())


def _clean(text: str) -> str:
    """Upper case, chevron lookalikes as `<`, only the MRZ's characters (spaces and noise dropped)."""
    return "".join(char for char in text.upper().translate(_CHEVRONS) if char in _ALPHABET)


def _distance(a: str, b: str) -> int:
    """Levenshtein distance of two short strings."""
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def _digitlike(char: str) -> bool:
    return char in _DIGITS or char in _TO_DIGIT


def _line1_anchor(text: str) -> tuple[int, int] | None:
    """(edits, end) of the best `IDVNM` (or `I<VNM`) near the start of a line, one wrong character allowed.

    Two wrong characters are allowed when the rest of the line is digits enough to be line 1's numbers.
    """
    best: tuple[int, int, int] | None = None
    for start in range(min(len(text), 5)):
        for length in (4, 5, 6):
            window = text[start : start + length]
            if len(window) < length:
                continue
            edits = min(_distance(window, "IDVNM"), _distance(window, "I<VNM"))
            end = start + length
            key = (edits, abs(end - 5), end)
            if edits <= 2 and (best is None or key < best):
                best = key
    if best is None:
        return None
    edits, _, end = best
    if edits == 2 and sum(_digitlike(char) for char in text[end:]) < 18:
        return None
    return edits, end


def _line2_score(text: str) -> int:
    """How much a line looks like line 2 (birth, sex, expiry, VNM): 0 when not at all."""
    digits = sum(_digitlike(char) for char in text[:16])
    if digits < 8:
        return 0
    score = 2 if digits >= 10 else 1
    if re.search(r"VNM|V.M|VN.|.NM", text[12:22]):
        score += 2
    if re.search(r"[MF]", text[5:10]):
        score += 1
    return score


def _line3_score(text: str) -> int:
    letters = sum(char in _LETTERS for char in text)
    digits = sum(char in _DIGITS for char in text)
    return max(0, letters - 3 * digits) if letters >= 2 else 0


def _repair_digits(chars: str, positions: Sequence[int], where: str) -> tuple[str, bool, list[str]]:
    """A field and its check digit (last); letters turned into the digits they look like only if the check holds.

    Returns the characters (repaired or as read), whether the check holds, and the repairs made.
    """

    def holds(candidate: str) -> bool:
        return (
            bool(candidate)
            and all(char in _DIGITS for char in candidate)
            and (check_digit(candidate[:-1]) == int(candidate[-1]))
        )

    if holds(chars):
        return chars, True, []
    repaired = "".join(_TO_DIGIT.get(char, char) for char in chars)
    if repaired != chars and holds(repaired):
        notes = [
            f"{where} pos {position}: {old}->{new}"
            for position, old, new in zip(positions, chars, repaired, strict=True)
            if old != new
        ]
        return repaired, True, notes
    return chars, False, []


def _without(segment: str, extra: int) -> list[tuple[str, str, int]]:
    """Every way of dropping `extra` characters: (kept, what was dropped, cost; dropping a digit costs more)."""
    found = []
    for dropped in itertools.combinations(range(len(segment)), extra):
        kept = "".join(char for i, char in enumerate(segment) if i not in dropped)
        removed = ", ".join(repr(segment[i]) for i in dropped)
        cost = sum(10 if _digitlike(segment[i]) else 1 for i in dropped)
        found.append((kept, removed, cost))
    return found


def _valid_yymmdd(value: str) -> bool:
    if value == NO_EXPIRY:
        return True
    try:
        from_yymmdd(value, century=2000)
    except DateError:
        return False
    return True


def _fit_date(segment: str, first: int, where: str) -> tuple[str, list[str]]:
    """Seven characters (YYMMDD and its check digit) from a segment of line 2 that may have gained some.

    Extra characters are dropped only where the check digit then holds on a valid date, fewest and non-digits
    first; a lost character is never guessed (exactly one digit would satisfy the check wherever it went).
    """
    positions = range(first, first + 7)
    extra = len(segment) - 7
    if 0 < extra <= _MAX_INSERTIONS:
        best: tuple[int, str, list[str]] | None = None
        for kept, removed, cost in _without(segment, extra):
            chars, holds, notes = _repair_digits(kept, positions, where)
            if holds and _valid_yymmdd(chars[:6]) and (best is None or cost + len(notes) < best[0]):
                best = (cost + len(notes), chars, [f"{where}: dropped inserted {removed}", *notes])
        if best is not None:
            return best[1], best[2]
    chars, _, notes = _repair_digits(segment[:7].ljust(7, FILLER), positions, where)
    return chars, notes


def _find_vnm(text: str) -> int | None:
    """Where line 2's nationality `VNM` starts (15 when nothing was lost or gained), one wrong letter allowed."""
    exact = [i for i in range(10, min(len(text) - 2, 24)) if text[i : i + 3] == "VNM"]
    if exact:
        return min(exact, key=lambda i: abs(i - 15))
    near = [
        i
        for i in range(12, min(len(text) - 2, 20))
        if sum(a == b for a, b in zip(text[i : i + 3], "VNM", strict=True)) == 2 and text[i] not in _DIGITS
    ]
    return min(near, key=lambda i: abs(i - 15)) if near else None


@dataclass
class _Line2:
    birth: str  # 7 characters: YYMMDD and check
    sex: str
    expiry: str
    composite: list[tuple[str, str]]  # candidates for the composite check digit (digit, as read), likeliest first
    repairs: list[str]


def _parse_line2(text: str) -> _Line2:
    repairs: list[str] = []
    vnm = _find_vnm(text)
    if vnm is None:
        head, tail = text[:15], text[18:]
    else:
        head, tail = text[:vnm], text[vnm + 3 :]
        if text[vnm : vnm + 3] != "VNM":
            repairs.append(f"line 2: nationality {text[vnm : vnm + 3]!r} read as 'VNM'")
    # The sex letter splits birth from expiry: the M or F that leaves seven characters on each side, or nearest.
    sexes = [k for k, char in enumerate(head) if char in "MF<"]
    if sexes:
        k = min(sexes, key=lambda k: abs(k - 7) + abs(len(head) - k - 8))
        birth_text, sex, expiry_text = head[:k], head[k], head[k + 1 :]
    elif len(head) == 14:  # the sex letter itself lost
        birth_text, sex, expiry_text = head[:7], FILLER, head[7:]
    else:
        birth_text, sex, expiry_text = head[:7], head[7:8] or FILLER, head[8:]
    if sex not in "MF<":
        sex = FILLER
    birth, notes = _fit_date(birth_text, 1, "line 2")
    repairs += notes
    expiry, notes = _fit_date(expiry_text, 9, "line 2")
    repairs += notes
    # The composite check digit ends the line, after the fillers: a lookalike letter read in its place is tried
    # as its digit (kept only if the composite then holds), and a digit just before a stray letter as well.
    body = tail.rstrip("<K")
    composite: list[tuple[str, str]] = []  # (digit, as read)
    if body[-1:] in _DIGITS:
        composite.append((body[-1], body[-1]))
    elif body[-1:] in _TO_DIGIT:
        composite.append((_TO_DIGIT[body[-1]], body[-1]))
        if body[-2:-1] in _DIGITS:
            composite.append((body[-2], body[-2]))
    if tail != FILLER * 11 + body[-1:] or not composite:
        repairs.append("line 2: filler run re-padded")
    return _Line2(birth, sex, expiry, composite or [(FILLER, FILLER)], repairs)


@dataclass
class _Line1:
    line: str
    repairs: list[str]
    cost: int


def _line1_candidates(text: str, anchor_end: int) -> list[_Line1]:
    """Readings of line 1 (document number, check, ID number, fillers, check) from the text after the anchor."""
    rest = text[anchor_end:]
    repairs: list[str] = []
    id_check = FILLER
    if rest and rest[-1] not in _FILLER_LOOKALIKES:
        id_check, rest = rest[-1], rest[:-1]
    body = rest.rstrip("<K")
    if rest[len(body) :] != FILLER * 2:
        repairs.append("line 1: filler run re-padded")
    size = 9 + 1 + 12
    bodies: list[tuple[str, list[str], int]] = []
    extra = len(body) - size
    if extra == 0:
        bodies.append((body, [], 0))
    elif 0 < extra <= _MAX_INSERTIONS:
        for kept, removed, cost in _without(body, extra):
            bodies.append((kept, [f"line 1: dropped inserted {removed}"], cost))
    elif extra == -1:
        # One digit lost: the document number is the ID number's last nine digits, so a digit lost from either
        # copy is restored from the other (and both checks must then hold). Never a check digit, and never one
        # of the ID's first three digits, which have no second copy.
        for position in [*range(0, 9), *range(13, 22)]:
            for digit in "0123456789":
                kept = body[:position] + digit + body[position:]
                if kept[0:9] == kept[13:22]:
                    note = f"line 1 pos {6 + position}: lost digit restored from its other copy"
                    bodies.append((kept, [note], 20))
    if not bodies or extra < 0:
        bodies.append((body[:size].ljust(size, FILLER), [], 100))
    found = []
    for kept, notes, cost in bodies:
        document, _, document_notes = _repair_digits(kept[0:10], range(6, 16), "line 1")
        identity, _, id_notes = _repair_digits(kept[10:22] + id_check, [*range(16, 28), 30], "line 1")
        line = "IDVNM" + document + identity[:12] + FILLER * 2 + identity[12]
        found.append(_Line1(line, repairs + notes + document_notes + id_notes, cost))
    return found


def _checks(line1: str, line2: str) -> dict[str, bool]:
    """td1_checks, where a field holding a letter fails whatever its check digit says, and the numbers' agreement.

    Letters count 10-35 in a check digit, so S (28) weighs as 8 and I (18) as 8 too: a misread letter can pass a
    check it should fail. On these cards every checked field is digits.
    """
    checks = td1_checks((line1, line2, ""))
    fields = {
        "document_number": line1[5:15],
        "id_number": line1[15:27] + line1[29],
        "birth": line2[0:7],
        "expiry": line2[8:15],
    }
    for name, chars in fields.items():
        checks[name] = checks[name] and all(char in _DIGITS for char in chars)
    checks["composite"] = checks["composite"] and all(
        all(char in _DIGITS for char in chars) for chars in fields.values()
    )
    checks["document_matches_id"] = line1[5:14] == line1[18:27] and all(char in _DIGITS for char in line1[5:14])
    return checks


def _is_syllable(word: str) -> bool:
    return _SYLLABLE.fullmatch(word) is not None


def _name_word(token: str) -> tuple[list[str], str | None]:
    """The name word(s) in a token between fillers: itself when it reads as a syllable or cannot be bettered.

    Repairs tried, fewest changes first, kept only if every resulting word reads as a Vietnamese syllable: a K
    that is a misread filler (`KTHI`, `TRANK`, `TRAN<K<` → TRAN, THI), lookalike digits (`5` → S), a Q read for
    an O (`CAQ` → CAO) and a digit inserted into a word (`THAO0` → THAO).
    """
    if _is_syllable(token):
        return [token], None
    options: list[tuple[int, list[str]]] = []
    lettered = "".join(_TO_LETTER.get(char, char) for char in token)
    for base, cost in ((token, 0), (lettered, sum(char in _TO_LETTER for char in token))):
        parts = [part for part in base.split("K") if part]
        if parts and all(_is_syllable(part) for part in parts):
            options.append((cost + base.count("K"), parts))
    if "Q" in token and _is_syllable(token.replace("Q", "O")):
        options.append((1, [token.replace("Q", "O")]))
    for i, char in enumerate(token):
        if char in _DIGITS:
            kept = (token[:i] + token[i + 1 :]).translate(_TO_LETTER_TABLE)
            if kept and _is_syllable(kept):
                options.append((1 + sum(c in _DIGITS for c in kept), [kept]))
    if options:
        _, words = min(options, key=lambda option: option[0])
        return words, f"line 3: {token!r} read as {'<'.join(words)!r}"
    if set(token) <= _FILLER_NOISE:
        return [], f"line 3: {token!r} read as fillers"
    return [token], None


def _parse_line3(text: str) -> tuple[list[str], list[str]]:
    words: list[str] = []
    repairs: list[str] = []
    for token in re.split(r"<+", text):
        if not token:
            continue
        found, note = _name_word(token)
        words += found
        if note:
            repairs.append(note)
    return words, repairs


# Costs of fitting line 3's OCR to the cells the image shows: lost fillers and fillers read as K are cheap (both
# are what `eng` does), a letter lost or a filler read as a letter dear.
_NAME_LOST = {"<": 0.05, "A": 1.5}
_NAME_EXTRA = {"<": 0.3, "K": 0.3}
_NAME_ACCEPTED_COST = 8.0


def _name_cost(char: str, cell: str) -> float:
    if cell == "<":
        return 0.0 if char == "<" else 0.3 if char == "K" else 0.8 if char in _FILLER_NOISE else 1.6
    if char in _LETTERS:
        return 0.0
    return 0.4 if char in _TO_LETTER else 1.0 if char in _DIGITS else 1.6


def _fit_name(text: str, shape: str) -> tuple[list[str], list[str]] | None:
    """Name words from line 3's OCR aligned to the card's own letter/filler cells; None if they do not fit."""
    if len(shape) != TD1_LINE_LENGTH or set(shape) - {"<", "A"} or len(text) > 2 * TD1_LINE_LENGTH:
        return None
    rows, cols = len(text) + 1, len(shape) + 1
    cost = [[0.0] * cols for _ in range(rows)]
    step = [[0] * cols for _ in range(rows)]  # 1: char to cell, 2: extra char, 3: lost cell
    for i in range(rows):
        for j in range(cols):
            if i == 0 and j == 0:
                continue
            options = []
            if i and j:
                options.append((cost[i - 1][j - 1] + _name_cost(text[i - 1], shape[j - 1]), 1))
            if i:
                options.append((cost[i - 1][j] + _NAME_EXTRA.get(text[i - 1], 1.0), 2))
            if j:
                options.append((cost[i][j - 1] + _NAME_LOST[shape[j - 1]], 3))
            cost[i][j], step[i][j] = min(options)
    if cost[-1][-1] > _NAME_ACCEPTED_COST:
        return None
    cells = [""] * len(shape)
    consumed: list[int | None] = [None] * len(shape)  # which character of the text each cell took
    i, j = len(text), len(shape)
    while i or j:
        move = step[i][j]
        if move == 1:
            cells[j - 1], consumed[j - 1] = text[i - 1], i - 1
            i, j = i - 1, j - 1
        elif move == 2:
            i -= 1
        else:
            j -= 1
    words = []
    for run in re.finditer(r"A+", shape):
        word = "".join(_TO_LETTER.get(char, char) for char in cells[run.start() : run.end()] if char != FILLER)
        if word and not _is_syllable(word):
            word = _better_word(word, _span(text, consumed, run.start(), run.end()), run.end() - run.start())
        if word:
            words.append(word)
    read = "<".join(token for token in text.split(FILLER) if token)
    fitted = "<".join(words)
    return words, [] if read == fitted else [f"line 3: {read!r} fitted to the card's fillers as {fitted!r}"]


def _span(text: str, consumed: list[int | None], start: int, end: int) -> str:
    """The text between what the cells before `start` and after `end` took: a word's characters and extras."""
    before = [index for index in consumed[:start] if index is not None]
    after = [index for index in consumed[end:] if index is not None]
    return text[(before[-1] + 1 if before else 0) : (after[0] if after else len(text))]


def _better_word(word: str, span: str, cells: int) -> str:
    """Where the fit left a word that is no syllable, the syllable of `cells` letters the span holds, if one.

    The alignment cannot tell which of two extra letters to drop (`NGUYVENS` into six cells); a syllable can.
    A Q is tried as the O it was most likely printed as: no Vietnamese syllable has a Q without a U after it.
    """
    letters = "".join(_TO_LETTER.get(char, char) for char in span if char != FILLER)
    extra = len(letters) - cells
    if not 0 <= extra <= 3:
        return word
    best: tuple[float, str] | None = None
    for dropped in itertools.combinations(range(len(letters)), extra):
        kept = "".join(char for i, char in enumerate(letters) if i not in dropped)
        cost = sum(_NAME_EXTRA.get(letters[i], 1.0) for i in dropped)
        for candidate, more in ((kept, 0.0), (kept.replace("Q", "O"), 0.5)):
            if _is_syllable(candidate) and (best is None or cost + more < best[0]):
                best = (cost + more, candidate)
    return word if best is None else best[1]


def _name_line(words: Sequence[str]) -> str:
    if not words:
        return FILLER * TD1_LINE_LENGTH
    return _pad(words[0] + FILLER * 2 + FILLER.join(words[1:]))


def _roles(texts: list[str]) -> tuple[int | None, int | None, int | None]:
    """Which text is line 1 (by its anchor), line 2 (by its shape), line 3 (letters and fillers)."""
    anchored = [(anchor[0], i) for i, text in enumerate(texts) if (anchor := _line1_anchor(text)) is not None]
    first = min(anchored)[1] if anchored else None
    rest = [i for i in range(len(texts)) if i != first]
    shaped = [(-_line2_score(texts[i]), i < (first or 0), i) for i in rest if _line2_score(texts[i]) > 0]
    second = min(shaped)[2] if shaped else None
    rest = [i for i in rest if i != second]
    lettered = [(-_line3_score(texts[i]), i < (second or first or 0), i) for i in rest if _line3_score(texts[i]) > 0]
    third = min(lettered)[2] if lettered else None
    return first, second, third


def parse_td1(lines: Sequence[str], *, century_hint: int | None = None, name_shape: str | None = None) -> MrzData:
    """The values of a TD1 MRZ from OCR text of its lines (any order, spaces, lost fillers, stray characters).

    century_hint is the ID number's century digit (0/1: born in the 1900s, 2/3: the 2000s) from another source;
    without it the MRZ's own ID number gives the century when its check holds, else the latest century that does
    not put the birth in the future. name_shape, when the image shows it, is line 3 as 30 cells, `<` where the card
    prints a filler and `A` where it prints a letter: the name is then fitted to it (line 3 has no check digit, and
    `eng` reads `<` as K). Raises MrzError (and nothing else) when neither line 1 nor line 2 is there, or when no
    check holds and no ID number was read; otherwise returns what was read with `checks` saying what holds: the
    caller decides what to trust.
    """
    if isinstance(lines, str):
        lines = [lines]
    texts = [_clean(part) for line in lines if isinstance(line, str) for part in line.splitlines()]
    texts = [text for text in texts if text]
    first, second, third = _roles(texts)
    if first is None and second is None:
        raise MrzError("no MRZ line 1 or line 2 in the text")
    if second is not None:
        parsed2 = _parse_line2(texts[second])
    else:
        parsed2 = _Line2(FILLER * 7, FILLER, FILLER * 7, [(FILLER, FILLER)], ["line 2: not found"])
    repairs2 = parsed2.repairs
    line2_stem = parsed2.birth + parsed2.sex + parsed2.expiry + "VNM" + FILLER * 11

    repairs1: list[str] = []
    if first is not None:
        anchor = _line1_anchor(texts[first])
        assert anchor is not None
        edits, end = anchor
        if edits:
            repairs1.append(f"line 1: anchor {texts[first][max(0, end - 6) : end]!r} read as 'IDVNM'")
        candidates = _line1_candidates(texts[first], end)
    else:
        candidates = [_Line1("IDVNM" + FILLER * 25, ["line 1: not found"], 0)]

    # The best reading of line 1 with the best composite digit: most checks holding, then fewest changes.
    best: tuple[tuple[int, int], _Line1, str, str] | None = None
    for candidate in candidates:
        for rank, (digit, read) in enumerate(parsed2.composite):
            held = sum(_checks(candidate.line, line2_stem + digit).values())
            key = (-held, candidate.cost + rank)
            if best is None or key < best[0]:
                best = (key, candidate, digit, read)
    assert best is not None
    _, chosen, digit, read = best
    line1 = chosen.line
    repairs1 += chosen.repairs
    line2 = line2_stem + digit
    checks = _checks(line1, line2)
    if digit != read:
        if checks["composite"]:
            repairs2.append(f"line 2 pos 30: {read}->{digit}")
        else:
            line2 = line2_stem + read
            checks = _checks(line1, line2)

    words: list[str]
    if third is None:
        words, repairs3 = [], ["line 3: not found"]
    else:
        fitted = _fit_name(texts[third], name_shape) if name_shape else None
        words, repairs3 = fitted if fitted is not None else _parse_line3(texts[third])

    id_number = line1[15:27].rstrip(FILLER) if first is not None else ""
    document_number = line1[5:14].rstrip(FILLER) if first is not None else ""
    if not any(checks.values()) and not re.fullmatch(r"[0-9]{12}", id_number):
        raise MrzError("no check digit holds and no ID number was read: not an MRZ")
    century = _birth_century(century_hint, id_number, checks["id_number"], line2[0:2])
    return MrzData(
        id_number=id_number,
        document_number=document_number,
        date_of_birth=_date_or_none(line2[0:6], century),
        sex=_SEXES.get(line2[7]),
        date_of_expiry=None if line2[8:14] == NO_EXPIRY else _date_or_none(line2[8:14], _EXPIRY_CENTURY),
        name_words=words,
        checks=checks,
        repairs=repairs1 + repairs2 + repairs3,
        lines=(line1, line2, _name_line(words)),
    )


def _birth_century(hint: int | None, id_number: str, id_holds: bool, yy: str) -> int | None:
    """The birth's century: the hint, else the MRZ's own ID number (G digit) when its check holds and its YY agrees."""
    try:
        if hint is not None:
            return century_of(hint)
        if id_holds and len(id_number) == 12 and id_number[4:6] == yy:
            return century_of(int(id_number[3]))
    except DateError:
        return None
    return None


def _date_or_none(value: str, century: int | None) -> date | None:
    try:
        return from_yymmdd(value, century=century)
    except DateError:
        return None


# Reading the MRZ off an upright card back. Positions are found, not assumed: the three lines are the text lines
# of one height, evenly spaced, spanning most of the card's width in its bottom part (real cards differ by mm).

# Share of the card's height, from the bottom, searched for the MRZ (on the chip cards it takes the last ~27%).
MRZ_SEARCH_SHARE = 0.38
# An MRZ line spans about 88% of the card's width (30 characters at 2.54 mm); other lines on a back are shorter.
_MIN_LINE_WIDTH = 0.55
_LINE_MARGIN = (8, 5)  # x, y: OCR-B's fillers sit low and its capitals high; keep them whole
_FILLER_MATCH = 0.8
_COMPACT_GAP = 3  # px between characters set close; 2 lost line 1's accuracy, 4 and more line 2's
# What lines 1 and 2 can hold on a Vietnamese card. Read with these, line 2 came out exact on 57 of 60 sample
# backs against 26 with the full whitelist (line 1: 57 against 55); used for the second reading.
_LINE_WHITELISTS = ("0123456789<IDVNM", "0123456789<MFVN")


@dataclass
class MrzReading:
    """The MRZ found on a card back: the raw OCR of its lines, where they are, what they parse to, how sure."""

    data: MrzData | None  # None when lines were found but held no MRZ
    lines: list[str]  # raw OCR text, top line first
    boxes: list[tuple[int, int, int, int]]  # x, y, w, h of each line in the card image
    confidence: float  # 0..1 from the checks: all holding → high, the composite failing → low


def find_mrz_lines(gray: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Boxes (x, y, w, h) of the MRZ's three lines on an upright card image, or [] when it has none.

    When the lines are not level the boxes are those of the image turned to make them level about the MRZ's
    middle (they differ from the card's by a few pixels at the ends).
    """
    return _level_mrz(gray)[1]


def _line_components(gray: np.ndarray) -> tuple[list[tuple[int, int, int, int]], list[float]]:
    """Boxes of the wide text lines in the bottom part of a card, and the slope of each (dy/dx)."""
    height, width = gray.shape[:2]
    top = int(height * (1 - MRZ_SEARCH_SHARE))
    band = gray[top:]
    # Black-hat keeps strokes darker than their surroundings and drops the lightened band's pattern and shading.
    size = max(15, round(height * 0.055)) | 1
    strokes = cv2.morphologyEx(band, cv2.MORPH_BLACKHAT, cv2.getStructuringElement(cv2.MORPH_RECT, (size, size)))
    _, ink = cv2.threshold(strokes, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    # Join a line's characters (30 px apart at 300 dpi, gaps of 10-15 px) but not two lines (18 px apart).
    pitch = width / 33.7  # 2.54 mm of 85.6
    joined = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (round(pitch * 1.3), 3)))
    count, labels, stats = components(joined)
    boxes, slopes = [], []
    for label in range(1, count):
        x, y, w, h, _ = (int(value) for value in stats[label])
        # Tall enough for a skewed line (2 degrees add 30 px over 880), not for a block of text.
        if w < _MIN_LINE_WIDTH * width or not 0.025 * height <= h <= 0.14 * height:
            continue
        ys, xs = np.nonzero(labels[y : y + h, x : x + w] == label)
        slopes.append(float(np.polyfit(xs, ys, 1)[0]) if len(xs) > 1 and np.ptp(xs) > 0 else 0.0)
        boxes.append((x, y + top, w, h))
    return boxes, slopes


def _level_mrz(gray: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """The image (turned level about the MRZ when its lines slope) and the MRZ's line boxes in it."""
    boxes, slopes = _line_components(gray)
    if len(boxes) < 3:
        return gray, []
    slope = float(np.median(slopes))
    # Below a quarter of a degree a line drifts 4 px over its length: not worth a turn of the image.
    if abs(slope) > 0.0045:
        centre_x = float(np.mean([x + w / 2 for x, _, w, _ in boxes]))
        centre_y = float(np.mean([y + h / 2 for _, y, _, h in boxes]))
        turn = cv2.getRotationMatrix2D((centre_x, centre_y), float(np.degrees(np.arctan(slope))), 1.0)
        gray = cv2.warpAffine(gray, turn, (gray.shape[1], gray.shape[0]), borderMode=cv2.BORDER_REPLICATE)
        boxes, _ = _line_components(gray)
    boxes.sort(key=lambda box: box[1])
    return gray, _mrz_triple(boxes)


def _mrz_triple(boxes: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """The lowest three boxes that look like one MRZ: like heights, left edges and widths, even spacing."""
    for i in range(len(boxes) - 3, -1, -1):
        triple = boxes[i : i + 3]
        heights = [h for _, _, _, h in triple]
        lefts = [x for x, _, _, _ in triple]
        widths = [w for _, _, w, _ in triple]
        gaps = [triple[1][1] - triple[0][1], triple[2][1] - triple[1][1]]
        mean_height = sum(heights) / 3
        if (
            max(heights) <= 1.6 * min(heights)
            and max(lefts) - min(lefts) <= 1.5 * mean_height
            and max(widths) <= 1.15 * min(widths)
            and max(gaps) <= 1.3 * min(gaps)
            and 1.1 * mean_height <= min(gaps) <= 2.8 * mean_height
        ):
            return triple
    return []


def _crop(gray: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x, y, w, h = box
    mx, my = _LINE_MARGIN
    return gray[max(0, y - my) : y + h + my, max(0, x - mx) : x + w + mx]


def _glyphs(crop: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Boxes (x0, y0, x1, y1) of the characters of one MRZ line crop, left to right (pieces of one joined)."""
    size = max(15, crop.shape[0] // 2 * 2 + 1)
    strokes = cv2.morphologyEx(crop, cv2.MORPH_BLACKHAT, cv2.getStructuringElement(cv2.MORPH_RECT, (size, size)))
    _, ink = cv2.threshold(strokes, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    count, _, stats = components(ink)
    pieces = sorted((int(x), int(y), int(x + w), int(y + h)) for x, y, w, h, area in stats[1:count] if area >= 12)
    glyphs: list[tuple[int, int, int, int]] = []
    for piece in pieces:
        if glyphs and piece[0] < glyphs[-1][2] - 2:  # overlapping columns: parts of one character
            last = glyphs[-1]
            glyphs[-1] = (last[0], min(last[1], piece[1]), max(last[2], piece[2]), max(last[3], piece[3]))
        else:
            glyphs.append(piece)
    return glyphs


def _match(region: np.ndarray, template: np.ndarray) -> float:
    """Best normalised correlation of a template anywhere in a (padded) region."""
    pad_y = max(0, template.shape[0] - region.shape[0])
    pad_x = max(0, template.shape[1] - region.shape[1])
    if pad_x or pad_y:
        region = np.pad(region, ((0, pad_y), (0, pad_x)), constant_values=255)
    return float(cv2.matchTemplate(region, template, cv2.TM_CCOEFF_NORMED).max())


def read_name_shape(
    line1: np.ndarray,
    line3: np.ndarray,
    glyphs1: list[tuple[int, int, int, int]] | None = None,
    glyphs3: list[tuple[int, int, int, int]] | None = None,
) -> str | None:
    """Line 3's cells as the card prints them (`<` filler, `A` letter), or None when they cannot be told.

    The card's own filler is the template: line 1 of a Vietnamese card always has `<<` at positions 28-29. Every
    filler matched it at 0.95 or more on the sample backs and no letter above 0.67 (K, the letter `eng` confuses
    with `<`, included).
    """
    first = _glyphs(line1) if glyphs1 is None else glyphs1
    third = _glyphs(line3) if glyphs3 is None else glyphs3
    if len(first) != TD1_LINE_LENGTH or len(third) != TD1_LINE_LENGTH:
        return None
    x0, y0, x1, y1 = first[28]
    template = line1[max(0, y0 - 1) : y1 + 1, max(0, x0 - 1) : x1 + 1]
    if template.size == 0 or template.std() < 1:
        return None
    reach = 4  # the lines are not quite level, nor the characters quite on their pitch

    def around(crop: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        gx0, gy0, gx1, gy1 = box
        return crop[max(0, gy0 - reach) : gy1 + reach, max(0, gx0 - reach) : gx1 + reach]

    if _match(around(line1, first[27]), template) < _FILLER_MATCH:
        return None  # not a `<<` there: this is not the layout the template assumes
    return "".join(FILLER if _match(around(line3, box), template) >= _FILLER_MATCH else "A" for box in third)


def _compact(crop: np.ndarray, glyphs: list[tuple[int, int, int, int]]) -> np.ndarray:
    """The line with its characters set close together; the crop as it is unless its 30 characters were found.

    Tesseract's time grows with a line's width and OCR-B's pitch leaves 40% of an MRZ line blank: set close, the
    three lines read in 52 ms of CPU instead of 60, and `eng` read line 2 exactly far more often (58 of 60 sample
    backs against 26), its fillers no longer taken for K.
    """
    if len(glyphs) != TD1_LINE_LENGTH:
        return crop
    blank = np.full((crop.shape[0], _COMPACT_GAP), 255, dtype=crop.dtype)
    parts: list[np.ndarray] = []
    for x0, _, x1, _ in glyphs:
        if parts:
            parts.append(blank)
        parts.append(crop[:, max(0, x0 - 1) : x1 + 1])
    return np.hstack(parts)


def _as_is(crop: np.ndarray) -> np.ndarray:
    return crop


def _binarised(crop: np.ndarray) -> np.ndarray:
    return cv2.threshold(crop, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)[1]


def _parse_or_none(lines: Sequence[str], shape: str | None) -> MrzData | None:
    try:
        return parse_td1(lines, name_shape=shape)
    except MrzError:
        return None


def _score(data: MrzData | None) -> tuple[int, int, int]:
    if data is None:
        return (-1, 0, 0)
    return (sum(data.checks.values()), len(data.name_words) > 0, -len(data.repairs))


def mrz_confidence(data: MrzData | None) -> float:
    """How far the MRZ's values can be trusted, from its checks alone (the name line has none)."""
    if data is None:
        return 0.0
    checks = data.checks
    fields = [checks[name] for name in _CHECK_NAMES[:4]]
    if checks["composite"] and all(fields) and checks["document_matches_id"]:
        return 0.98
    if checks["composite"] and checks["document_matches_id"]:
        # The composite holds over every field, so a single failing field check is the odd one (the ID's own
        # check digit at position 30 is the least certain fact about these cards).
        return 0.7
    return round(0.1 + 0.2 * sum(fields) / len(fields), 3)


def _found_lines(
    back: np.ndarray, engine: OcrEngine | None
) -> tuple[np.ndarray, list[tuple[int, int, int, int]], OcrEngine] | None:
    """The back in grey, levelled about its MRZ, the MRZ's line boxes and the engine; None where it has no MRZ."""
    gray = back if back.ndim == 2 else cv2.cvtColor(back, cv2.COLOR_BGR2GRAY)
    gray, boxes = _level_mrz(gray)
    if not boxes:
        return None
    if engine is None:
        from ocr.engine import get_engine

        engine = get_engine()
    return gray, boxes, engine


def read_mrz(back: np.ndarray, engine: OcrEngine | None = None) -> MrzReading | None:
    """Find and read the MRZ of an upright card back (BGR or gray, 1011x638 at 300 dpi); None if it has none.

    The three lines are found in the bottom of the card (turned level if they slope), each read once with `eng`
    and the MRZ whitelist, its characters set close together; line 3 is fitted to the filler/letter cells seen
    in the image. Only when checks fail are the failing lines 1 and 2 read again: first with the characters each
    can hold (digits, `<` and the letters of IDVNM, or of MFVN: `eng` then cannot read 7 as T or `<<` as `<K<`),
    then binarised; the reading with the most checks holding is kept. About 55 ms of CPU per back with an MRZ
    (three Tesseract calls of ~17 ms), 3 ms for one without.
    """
    found = _found_lines(back, engine)
    if found is None:
        return None
    gray, boxes, engine = found
    crops = [_crop(gray, box) for box in boxes]
    glyphs = [_glyphs(crop) for crop in crops]
    shape = read_name_shape(crops[0], crops[2], glyphs[0], glyphs[2])
    texts = [
        engine.read_line(_compact(crop, found), lang="eng", whitelist=MRZ_WHITELIST).text
        for crop, found in zip(crops, glyphs, strict=True)
    ]
    data = _parse_or_none(texts, shape)
    for prepare in (_as_is, _binarised):
        doubtful = _doubtful_lines(data)
        if not doubtful:
            break
        again = list(texts)
        for index in doubtful:
            again[index] = engine.read_line(prepare(crops[index]), lang="eng", whitelist=_LINE_WHITELISTS[index]).text
        for first, second in {(again[0], texts[1]), (texts[0], again[1]), (again[0], again[1])}:
            other = _parse_or_none([first, second, *texts[2:]], shape)
            if _score(other) > _score(data):
                data, texts = other, [first, second, *texts[2:]]
    return MrzReading(data=data, lines=texts, boxes=boxes, confidence=mrz_confidence(data))


def read_mrz_numbers(back: np.ndarray, engine: OcrEngine | None = None) -> MrzData | None:
    """Line 1 of the MRZ alone: the document number and the ID number with their check digits; None without an MRZ.

    For telling which back goes with which front, where the other two lines (birth, expiry, name) are not needed:
    one Tesseract call of ~17 ms instead of three. Line 1 is read as `read_mrz` reads it, again with its own
    characters and then binarised while its checks fail. The result's line 2 and 3 checks are false (not read).
    """
    found = _found_lines(back, engine)
    if found is None:
        return None
    gray, boxes, engine = found
    crop = _crop(gray, boxes[0])
    text = engine.read_line(_compact(crop, _glyphs(crop)), lang="eng", whitelist=MRZ_WHITELIST).text
    data = _parse_or_none([text], None)
    for prepare in (_as_is, _binarised):
        if data is not None and _numbers_hold(data):
            break
        text = engine.read_line(prepare(crop), lang="eng", whitelist=_LINE_WHITELISTS[0]).text
        other = _parse_or_none([text], None)
        if _score(other) > _score(data):
            data = other
    return data


def _numbers_hold(data: MrzData) -> bool:
    checks = data.checks
    return checks["document_number"] and checks["id_number"] and checks["document_matches_id"]


def _doubtful_lines(data: MrzData | None) -> list[int]:
    """Which of lines 1 and 2 (0, 1) to read again: those whose checks fail, both when only the composite does."""
    if data is None:
        return [0, 1]
    checks = data.checks
    doubtful = []
    if not _numbers_hold(data):
        doubtful.append(0)
    if not (checks["birth"] and checks["expiry"]):
        doubtful.append(1)
    return doubtful or ([0, 1] if not checks["composite"] else [])
