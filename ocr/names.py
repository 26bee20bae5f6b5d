"""Full names from OCR: Tesseract's per-symbol alternatives decoded against a lexicon of Vietnamese name syllables."""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from operator import add, itemgetter

from ocr.mrz import strip_diacritics

Alternative = tuple[str, float]  # a character and its score in [0, 1]
Symbol = list[Alternative]  # one printed character's alternatives, best first


@dataclass(frozen=True)
class LineChoices:
    """One line as the OCR engine read it, with its doubts.

    `words[i][j]` is symbol j of word i: (character, score 0..1) alternatives sorted best first, Tesseract's top-1
    character among them (not necessarily first: the LSTM's choices can outrank the beam's answer). An engine
    without alternatives gives the top-1 character alone.
    """

    text: str  # Tesseract's top-1 line, words separated by single spaces
    confidence: float  # mean word confidence, 0..1
    words: list[list[Symbol]]


@dataclass(frozen=True)
class NameReading:
    """A decoded full name and how far to trust it."""

    full_name: str  # upper case, NFC, single spaces
    confidence: float  # 0..1; high only when every word is a lexicon syllable the alternatives clearly support
    changed: bool  # differs from the normalised top-1 text
    unknown_words: list[str]  # words of full_name that are not lexicon syllables


@dataclass(frozen=True)
class Syllable:
    """One lexicon entry: how often it serves as surname, middle name, given name (per 10,000 names)."""

    text: str  # upper case, NFC
    surname: float
    middle: float
    given: float
    bare: str  # without diacritics, Đ as D: as the MRZ writes it


@dataclass
class _TrieNode:
    bare: str  # of the letter leading here
    children: dict[str, _TrieNode] = field(default_factory=dict)
    entry: Syllable | None = None
    # What the search bounds a branch by, filled in once the trie is complete:
    priors: dict[str, float] = field(default_factory=dict)  # per role, the entry's prior cost
    floor: dict[str, float] = field(default_factory=dict)  # per role, the cheapest prior of an entry here or below
    below: frozenset[str] = frozenset()  # the letters of the nodes under this one
    below_bare: frozenset[str] = frozenset()  # and those letters without their marks
    depths: tuple[float, float] = (0, 0)  # the fewest and most letters of an entry here or below


@dataclass(frozen=True)
class Lexicon:
    syllables: dict[str, Syllable]
    trie: _TrieNode
    totals: dict[str, float]  # per role: the weights a prior divides by
    typical_prior: float  # the mean prior cost of a middle or given name: what a word boundary costs on its own


# Costs are in nats (negative log-likelihoods), so that candidates compare as probabilities.
SCORE_FLOOR = 0.02  # an alternative listed at score 0 is still weak evidence for its letter
MARK_MISS = 4.0  # the candidate's letter is not among the alternatives, but one with the same base letter is
LOST_BAR = 2.0  # Đ where only D was read: Tesseract often loses the bar (and Đ never shows as any other letter)
SUBSTITUTION = 7.0  # not even the base letter was seen
MISSING_LETTER = 5.5  # a letter of the candidate with no symbol (Tesseract dropped it)
EXTRA_LETTER = 5.5  # a symbol read as a letter that the candidate does not have
EXTRA_NOISE = 0.3  # a symbol with no letter among its alternatives: a speck, a label's dot, a stray quote
PRIOR_SCALE = 0.3  # how much a syllable's frequency counts against the evidence
RARE_WEIGHT = 1.0  # per 10,000 names, for a syllable in a role the lexicon does not list it in
NOT_A_SURNAME = 3.0  # a first word that is no surname: cards print the surname first
ROLE_MISMATCH = 1.0  # a later word in a role the lexicon does not know it in (double surnames do occur)
ROLES = ("surname", "middle", "given")  # by position: first word, words between, last word
DEBRIS_TRUST = 0.85  # per symbol in the line that is no letter
# The price of keeping a reading that is no lexicon syllable. Measured trade-off: at 5 a cleanly read syllable the
# lexicon lacks is kept (94% of held-out given names came out right), while a stray mark on a lexicon syllable (a
# label's dot read as a tone) is still mostly undone; at 6.5 the held-out names fell to 30% for +0.5% elsewhere.
UNKNOWN_WORD = 5.0
MALFORMED_WORD = 4.0  # more again when that reading is not even a well-formed Vietnamese syllable
SPLIT = 1.0  # cutting a word Tesseract read as one (it loses narrow spaces, more often than it invents them)
MERGE = 3.0  # ignoring a space Tesseract saw
SPLIT_TRUST = 0.8  # a word boundary the lexicon inferred without the MRZ's confirmation
MAX_SYLLABLE_LETTERS = 7  # NGHIÊNG; a longer "word" is several syllables run together
SEARCH_WINDOW = 12.0  # candidates costing this much more than the best have no say (e^-12)
UNKNOWN_WORD_TRUST = 0.35  # a word outside the lexicon caps the name's confidence
MRZ_SPELLED_TRUST = 0.6  # an MRZ-spelled word outside the lexicon: letters trusted, tone marks not

_TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}  # grave, acute, tilde, hook above, dot below
_LOOKALIKES = {"Ð": "Đ", "ð": "Đ", "Ɖ": "Đ", "đ": "Đ", "ɖ": "Đ"}
# Digits and bars in a name are misread letters; as alternatives they count for half.
_WEAK_LOOKALIKES = {"0": "O", "1": "I", "|": "I", "!": "I", "5": "S", "8": "B", "€": "E", "$": "S"}
_LABELS = ("HỌ, CHỮ ĐỆM VÀ TÊN KHAI SINH", "HỌ VÀ TÊN", "HỌ TÊN", "FULL NAME", "TÊN")
_ONSETS = "NGH|NG|NH|CH|GH|GI|KH|PH|QU|TH|TR|B|C|D|Đ|G|H|K|L|M|N|P|R|S|T|V|X"
_CODAS = "NG|NH|CH|C|M|N|P|T|I|Y|O|U"
_SYLLABLE_SHAPE = re.compile(rf"(?:{_ONSETS})?([AĂÂEÊIOÔƠUƯY]{{1,3}})(?:{_CODAS})?")


def bare(text: str) -> str:
    """Without any diacritic, Đ as D: the MRZ's spelling."""
    return strip_diacritics(text)


@cache
def _bare_letter(letter: str) -> str:
    return bare(letter)


def split_symbols(text: str) -> list[str]:
    """The characters of a word as printed: NFC, a combining mark kept with the letter it sits on."""
    symbols: list[str] = []
    for char in unicodedata.normalize("NFC", text):
        if unicodedata.combining(char) and symbols:
            symbols[-1] = unicodedata.normalize("NFC", symbols[-1] + char)
        else:
            symbols.append(char)
    return symbols


def is_syllable_shaped(word: str) -> bool:
    """Whether a word could be one Vietnamese syllable: onset, 1-3 vowels, coda, at most one tone mark, and a
    stop coda (C, CH, P, T) only with the acute or the dot-below tone."""
    decomposed = unicodedata.normalize("NFD", word)
    tones = [c for c in decomposed if c in _TONES]
    if len(tones) > 1:
        return False
    toneless = unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in _TONES))
    if not _SYLLABLE_SHAPE.fullmatch(toneless):
        return False
    # Syllables closed by a stop take the rising or the heavy tone, never another or none.
    return not (toneless.endswith(("C", "CH", "P", "T")) and (not tones or tones[0] not in ("\u0301", "\u0323")))


def _letter(char: str) -> tuple[str, float] | None:
    """A symbol alternative as an upper-case letter and the factor its score keeps; None if it is no letter."""
    char = unicodedata.normalize("NFC", char)
    if char in _LOOKALIKES:
        return _LOOKALIKES[char], 1.0
    if char in _WEAK_LOOKALIKES:
        return _WEAK_LOOKALIKES[char], 0.5
    upper = char.upper()
    # Upper-casing keeps one character for every Vietnamese letter; 'ß' and the like are no name letters.
    if len(upper) != 1 or not upper.isalpha() or not ("A" <= bare(upper) <= "Z"):
        return None
    return upper, 1.0


def _move_tone(text: str) -> str | None:
    """The other tone placement of an open OA, OE, UY rhyme (HÒA and HOÀ, THỦY and THUỶ), both seen on cards."""
    nfd = unicodedata.normalize("NFD", text)
    tone = next((c for c in nfd if c in _TONES), None)
    toneless = unicodedata.normalize("NFC", "".join(c for c in nfd if c not in _TONES))
    if tone is None or toneless.startswith("QU") or not toneless.endswith(("OA", "OE", "UY")):
        return None
    tone_on_first = unicodedata.normalize("NFC", toneless[:-1] + tone + toneless[-1]) == text
    if tone_on_first:
        return unicodedata.normalize("NFC", toneless + tone)
    return unicodedata.normalize("NFC", toneless[:-1] + tone + toneless[-1])


def _role_weight(entry: Syllable, role: str) -> float:
    if role == "surname":
        return entry.surname
    if role == "middle":
        # Given-name syllables often serve as the second middle name of four-word names (THỊ NGỌC ANH).
        return entry.middle + 0.2 * entry.given
    return entry.given


@cache
def lexicon() -> Lexicon:
    """The name syllables of ocr/data/name_syllables.txt, with the other tone placement of OA/OE/UY added."""
    return build_lexicon(resources.files("ocr").joinpath("data/name_syllables.txt").read_text(encoding="utf-8"))


def build_lexicon(text: str) -> Lexicon:
    """A lexicon from lines of SYLLABLE SURNAME MIDDLE GIVEN weights ('#' starts a comment)."""
    syllables: dict[str, Syllable] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        word, surname, middle, given = line.split()
        word = unicodedata.normalize("NFC", word.upper())
        syllables[word] = Syllable(word, float(surname), float(middle), float(given), bare(word))
    for entry in list(syllables.values()):
        variant = _move_tone(entry.text)
        if variant is not None and variant not in syllables:
            # The other placement spells the same name, less often printed: half the weight.
            syllables[variant] = Syllable(variant, entry.surname / 2, entry.middle / 2, entry.given / 2, entry.bare)
    trie = _TrieNode("")
    for entry in syllables.values():
        node = trie
        for letter in entry.text:
            node = node.children.setdefault(letter, _TrieNode(_bare_letter(letter)))
        node.entry = entry
    totals = {role: sum(_role_weight(entry, role) for entry in syllables.values()) for role in ROLES}
    givens = [entry.given for entry in syllables.values() if entry.given > 0]
    typical = sum(w * PRIOR_SCALE * math.log(totals["given"] / w) for w in givens) / sum(givens)
    _annotate(trie, 0, totals, {})
    return Lexicon(syllables, trie, totals, typical)


def _annotate(
    node: _TrieNode, depth: int, totals: dict[str, float], interned: dict[frozenset[str], frozenset[str]]
) -> None:
    """A node's bounds from its children's (the trie's leaves all hold entries, so every branch has some)."""
    floor = dict.fromkeys(ROLES, math.inf)
    fewest, most = math.inf, -math.inf
    if node.entry is not None:
        node.priors = {role: _prior(node.entry, role, totals) for role in ROLES}
        floor = dict(node.priors)
        fewest = most = depth
    below: set[str] = set()
    for letter, child in node.children.items():
        _annotate(child, depth + 1, totals, interned)
        below |= child.below
        below.add(letter)
        floor = {role: min(floor[role], child.floor[role]) for role in ROLES}
        fewest, most = min(fewest, child.depths[0]), max(most, child.depths[1])
    node.floor = floor
    node.depths = (fewest, most)
    # Branches often go on with the same letters: one set object for them all, which the search's cache then finds
    # by identity.
    node.below = interned.setdefault(frozenset(below), frozenset(below))
    node.below_bare = frozenset(_bare_letter(letter) for letter in below)


def normalise_name(text: str) -> str:
    """A name as cards print it: NFC, upper case, single spaces, without label remnants, punctuation or digits.

    An apostrophe or hyphen between letters stays: some minority names carry them (H'HEN, Y-NGÔNG).
    """
    text = unicodedata.normalize("NFC", text)
    text = "".join(_LOOKALIKES.get(char, char) for char in text).upper()
    text = re.sub(r"[’‘`´]", "'", text)
    for label in _LABELS:
        # A label that crept into the crop, with its colon or slash: "Họ và tên: NGUYỄN ..."
        text = re.sub(rf"^\W*{re.escape(label)}\s*[:/]", " ", text)
    text = re.sub(r"\d", "", text)
    words = re.findall(r"[^\W\d_]+(?:['-][^\W\d_]+)*", text)
    return unicodedata.normalize("NFC", " ".join(words))


@dataclass
class _Evidence:
    """One symbol's alternatives as letters."""

    scores: dict[str, float]  # letter -> best score
    bare: set[str]
    best: float  # the best letter's score
    top: str | None  # the best letter, None when the symbol is rather punctuation or a speck
    best_any: float  # the best alternative's score, letter or not
    extra: float  # the cost of leaving this symbol out of a word
    _costs: dict[str, float] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, symbol: Symbol) -> _Evidence:
        scores: dict[str, float] = {}
        best_any = 0.0
        for char, score in symbol:
            score = max(0.0, min(1.0, score))
            best_any = max(best_any, score)
            letter = _letter(char)
            if letter is not None:
                scores[letter[0]] = max(scores.get(letter[0], -1.0), score * letter[1])
        best = max(scores.values(), default=0.0)
        # How much the symbol is a letter at all: a '.' whose only letter alternative scores 0 is a speck.
        letterness = min(1.0, best / max(best_any, SCORE_FLOOR)) if scores else 0.0
        top = max(scores, key=lambda k: scores[k]) if scores and letterness >= 0.5 else None
        extra = EXTRA_NOISE + (EXTRA_LETTER - EXTRA_NOISE) * letterness
        return cls(scores, {_bare_letter(k) for k in scores}, best, top, best_any, extra)

    def cost(self, letter: str) -> float:
        cost = self._costs.get(letter)
        if cost is None:
            score = self.scores.get(letter)
            if score is not None:
                cost = math.log(max(self.best, SCORE_FLOOR) / max(score, SCORE_FLOOR))
            elif letter == "Đ" and "D" in self.scores:
                cost = LOST_BAR + math.log(max(self.best, SCORE_FLOOR) / max(self.scores["D"], SCORE_FLOOR))
            elif _bare_letter(letter) in self.bare:
                cost = MARK_MISS
            else:
                cost = SUBSTITUTION
            self._costs[letter] = cost
        return cost

    def spelled(self, plain: str) -> tuple[float, str]:
        """The cheapest letter here that the MRZ's plain letter allows, and its cost."""
        options = [(self.cost(k), k) for k in self.scores if _bare_letter(k) == plain]
        return min(options) if options else (self.cost(plain), plain)


def _align(letters: str, evidence: list[_Evidence]) -> float:
    """The cheapest alignment of a word's letters to the symbols (edit distance with evidence costs)."""
    row = _first_row(evidence)
    extras = [ev.extra for ev in evidence]
    for letter in letters:
        row = _next_row(row, [ev.cost(letter) for ev in evidence], extras)
    return row[-1]


def _first_row(evidence: list[_Evidence]) -> list[float]:
    """No letter yet: every symbol so far left out."""
    row = [0.0]
    for ev in evidence:
        row.append(row[-1] + ev.extra)
    return row


def _next_row(row: list[float], costs: list[float], extras: list[float]) -> list[float]:
    """One more letter of the alignment (`costs` its cost at each symbol): matched to a symbol, dropped by the OCR,
    or after a symbol left out."""
    left = row[0] + MISSING_LETTER
    current = [left]
    for diagonal, up, cost, extra in zip(row, row[1:], costs, extras, strict=False):  # row: one entry more
        left += extra
        matched = diagonal + cost
        if matched < left:
            left = matched
        dropped = up + MISSING_LETTER
        if dropped < left:
            left = dropped
        current.append(left)
    return current


@dataclass(frozen=True)
class _WordReading:
    text: str
    known: bool
    confidence: float
    cost: float  # of the chosen text against the evidence, with its prior or its unknown-word price
    fit: float  # of the chosen text against the evidence alone


def _prior(entry: Syllable, role: str, totals: dict[str, float]) -> float:
    weight = _role_weight(entry, role)
    penalty = 0.0
    if weight <= 0:
        weight, penalty = RARE_WEIGHT, NOT_A_SURNAME if role == "surname" else ROLE_MISMATCH
    return PRIOR_SCALE * math.log(totals[role] / weight) + penalty


MRZ_VOUCHED = 2.0


def _unknown_cost(word: str) -> float:
    return UNKNOWN_WORD + (0.0 if is_syllable_shaped(word) else MALFORMED_WORD)


def _mrz_spelled(mrz_word: str, evidence: list[_Evidence]) -> tuple[str, float]:
    """The MRZ word's letters, each with the best-scoring diacritics the alternatives offer at that place."""
    n = len(evidence)
    inf = math.inf
    # cost[i][j]: MRZ letters [:i] against symbols [:j]; back pointers rebuild the chosen letters.
    cost = [[inf] * (n + 1) for _ in range(len(mrz_word) + 1)]
    back: list[list[tuple[int, int, str]]] = [[(0, 0, "")] * (n + 1) for _ in range(len(mrz_word) + 1)]
    cost[0][0] = 0.0
    for j in range(1, n + 1):
        cost[0][j] = cost[0][j - 1] + evidence[j - 1].extra
        back[0][j] = (0, j - 1, "")
    for i, plain in enumerate(mrz_word, start=1):
        for j in range(n + 1):
            best, step = cost[i - 1][j] + MISSING_LETTER, (i - 1, j, plain)
            if j > 0:
                ev = evidence[j - 1]
                local, letter = ev.spelled(plain)
                if cost[i - 1][j - 1] + local < best:
                    best, step = cost[i - 1][j - 1] + local, (i - 1, j - 1, letter)
                if cost[i][j - 1] + ev.extra < best:
                    best, step = cost[i][j - 1] + ev.extra, (i, j - 1, "")
            cost[i][j], back[i][j] = best, step
    letters: list[str] = []
    i, j = len(mrz_word), n
    while i > 0 or j > 0:
        pi, pj, letter = back[i][j]
        if pi < i:
            letters.append(letter)
        i, j = pi, pj
    return "".join(reversed(letters)), cost[len(mrz_word)][n]


def _fits_mrz(word_bare: str, mrz_word: str | None, truncated: bool) -> bool:
    """Whether a word spells the MRZ's word (or begins it, where the MRZ cut the last word short)."""
    return mrz_word is None or word_bare == mrz_word or (truncated and word_bare.startswith(mrz_word))


# A bound and the alignment it bounds add the same costs in other orders, which may differ in the last bits.
_ROUNDING = 1e-9


def _search(
    evidence: list[_Evidence],
    lex: Lexicon,
    *,
    role: str,
    lengths: tuple[int, int],
    starts: set[str] | None,
    mrz_word: str | None,
    mrz_truncated: bool,
) -> dict[str, float]:
    """The cost of every lexicon syllable within reach of the symbols: one alignment row per node of the lexicon's
    trie (shared prefixes computed once), best branches first, and branches that cannot come near the best abandoned.

    A branch is dropped only when a lower bound on every cost down it is already out of the window, so the result
    (and its order, which settles ties) is that of a search of every branch, filtered by the window."""
    shortest, longest = lengths
    costs: dict[str, float] = {}
    best = math.inf
    extras = [ev.extra for ev in evidence]
    columns: dict[str, list[float]] = {}
    # Per symbol from the last: what leaving it out costs, its letters' bare forms, and its letters' costs cheapest
    # first (Đ included where only D was read).
    backwards: list[tuple[float, set[str], list[tuple[float, str]]]] = []
    for ev in reversed(evidence):
        offered = [(ev.cost(letter), letter) for letter in ev.scores]
        if "Đ" not in ev.scores and "D" in ev.scores:
            offered.append((ev.cost("Đ"), "Đ"))
        backwards.append((ev.extra, ev.bare, sorted(offered)))
    tails: dict[frozenset[str], list[float]] = {}

    def tail(node: _TrieNode) -> list[float]:
        """At least what symbols j.. add to any syllable going on below the node: each symbol is one of the letters
        there, at no less than the cheapest of them costs at that symbol, or is left out."""
        found = [0.0]
        total = 0.0
        for extra, bares, offered in backwards:
            cheapest = SUBSTITUTION if node.below_bare.isdisjoint(bares) else MARK_MISS
            for cost, letter in offered:
                if cost >= cheapest:
                    break
                if letter in node.below:
                    cheapest = cost
                    break
            total += extra if extra < cheapest else cheapest
            found.append(total)
        found.reverse()
        tails[node.below] = found
        return found

    # Depth first, best branches first, as a stack of branches still to see: (the cheapest entry of the row, a
    # bound on any cost down the branch, its node, its row, its depth).
    stack: list[tuple[float, float, _TrieNode, list[float], int]] = [(0.0, 0.0, lex.trie, _first_row(evidence), 0)]
    while stack:
        lowest, bound, node, row, depth = stack.pop()
        # Candidates far behind the best matter neither to the choice nor to its probability.
        if lowest > best + SEARCH_WINDOW or bound > best + SEARCH_WINDOW + _ROUNDING:
            continue
        entry = node.entry
        if entry is not None and depth >= shortest and _fits_mrz(entry.bare, mrz_word, mrz_truncated):
            cost = costs[entry.text] = row[-1] + node.priors[role]
            best = min(best, cost)
        if depth >= longest:
            continue
        branches = []
        ups = row[1:]
        limit = best + SEARCH_WINDOW + _ROUNDING
        for letter, child in node.children.items():
            if depth == 0 and starts is not None and child.bare not in starts:
                continue
            if mrz_word is not None and (child.bare != mrz_word[depth] if depth < len(mrz_word) else not mrz_truncated):
                continue
            if child.depths[1] < shortest or child.depths[0] > longest:
                continue  # no syllable of an allowed length down there
            # No syllable down a branch costs less than its row's cheapest way to the end plus its cheapest prior:
            # bounded roughly from this row before the branch's row is worked out, then from that row.
            floor = child.floor[role]
            if lowest + floor > limit:
                continue
            column = columns.get(letter)
            if column is None:
                column = columns[letter] = [ev.cost(letter) for ev in evidence]
            # _next_row, inlined: a call per branch would cost a tenth of the search.
            left = row[0] + MISSING_LETTER
            current = [left]
            for diagonal, up, cost, extra in zip(row, ups, column, extras, strict=False):
                left += extra
                matched = diagonal + cost
                if matched < left:
                    left = matched
                dropped = up + MISSING_LETTER
                if dropped < left:
                    left = dropped
                current.append(left)
            cheapest = min(current)
            if cheapest + floor > limit:
                continue
            ahead = tails.get(child.below)
            if ahead is None:
                ahead = tail(child)
            child_bound = min(map(add, current, ahead)) + floor
            if child_bound <= limit:
                branches.append((cheapest, child_bound, child, current, depth + 1))
        # Stable, as the children's order settles ties; the cheapest is taken from the stack first.
        branches.sort(key=itemgetter(0))
        stack.extend(reversed(branches))
    return {text: cost for text, cost in costs.items() if cost <= best + SEARCH_WINDOW}


def _decode_span(
    evidence: list[_Evidence],
    *,
    role: str,
    lex: Lexicon,
    top1: str = "",
    mrz_word: str | None = None,
    mrz_truncated: bool = False,
    quick: bool = False,
) -> _WordReading | None:
    """The syllable that best explains a run of symbols; `quick` (for trying splits) only looks at syllables of
    about the run's length that start with a letter the first symbol offers."""
    letters = [ev for ev in evidence if ev.top is not None]
    if not letters:
        return None

    n = len(letters)
    spread = 1 if quick else 2
    # A syllable cut out of a longer word starts at its first symbol, or its second after a stray one.
    starts = set().union(*(ev.bare for ev in letters[:2])) if quick else None
    costs = _search(
        evidence,
        lex,
        role=role,
        lengths=(max(1, n - spread), n + spread),
        starts=starts,
        mrz_word=mrz_word,
        mrz_truncated=mrz_truncated,
    )
    known = set(costs)
    # The reading itself competes as an unknown word: Tesseract's top-1, and the best alternative of each symbol.
    readings = {"".join(ev.top for ev in letters if ev.top), normalise_name(top1).replace(" ", "")}
    if mrz_word is not None:
        readings = {r for r in readings if _fits_mrz(bare(r), mrz_word, mrz_truncated)}
        spelled, cost = _mrz_spelled(mrz_word, evidence)
        if spelled not in costs:
            costs[spelled] = cost + _unknown_cost(spelled) + (MRZ_VOUCHED if known else 0.0)
    # With the MRZ's letters, a lexicon syllable that spells them is far likelier than an unknown word that does:
    # the unknown reading is then most often the right letters with a tone mark lost.
    vouched = MRZ_VOUCHED if mrz_word is not None and known else 0.0
    for reading in readings:
        if reading and reading not in costs:
            costs[reading] = _align(reading, evidence) + _unknown_cost(reading) + vouched
    chosen = min(costs, key=lambda k: costs[k])
    # The chosen word's probability among all candidates, as if costs were negative log-likelihoods.
    probability = 1.0 / sum(math.exp(costs[chosen] - cost) for cost in costs.values())
    # How well the evidence itself supports the choice: a letter it did not rank first, or ranked first weakly,
    # makes the word doubtful whatever the lexicon says.
    fit = _align(chosen, evidence)
    support = math.exp(-fit)
    strength = min(ev.best for ev in letters)
    confidence = probability * support * min(1.0, strength / 0.6)
    if chosen not in known:
        confidence = min(confidence, MRZ_SPELLED_TRUST if mrz_word is not None else UNKNOWN_WORD_TRUST)
    return _WordReading(chosen, chosen in known, confidence, costs[chosen], fit)


def _split_word(evidence: list[_Evidence], *, roles: tuple[str, str], lex: Lexicon) -> list[_WordReading] | None:
    """Several syllables read as one word (Tesseract lost the spaces): the cheapest cut into lexicon syllables.

    `roles` are those of the first and the last part; parts between are middle names."""
    n = len(evidence)
    spans: dict[tuple[int, int], _WordReading | None] = {}

    def span(i: int, j: int) -> _WordReading | None:
        if (i, j) not in spans:
            letters = sum(1 for ev in evidence[i:j] if ev.top is not None)
            reading = None
            if 1 <= letters <= MAX_SYLLABLE_LETTERS and evidence[i].top is not None:
                role = roles[0] if i == 0 else roles[1] if j == n else "middle"
                reading = _decode_span(evidence[i:j], role=role, lex=lex, quick=True)
            spans[(i, j)] = reading if reading is not None and reading.known else None
        return spans[(i, j)]

    # Every cut pays SPLIT but is credited a typical word's prior, which the extra part pays again.
    cut = SPLIT - lex.typical_prior
    nothing: list[_WordReading] = []
    best = [(0.0, nothing)] + [(math.inf, nothing)] * n
    for j in range(1, n + 1):
        for i in range(max(0, j - MAX_SYLLABLE_LETTERS - 2), j):
            if best[i][0] == math.inf:
                continue
            reading = span(i, j)
            if reading is not None:
                total = best[i][0] + reading.cost + (cut if i > 0 else 0.0)
                if total < best[j][0]:
                    best[j] = (total, [*best[i][1], reading])
    cost, parts = best[n]
    return parts if len(parts) > 1 and cost < math.inf else None


def _decode_ocr_word(
    evidence: list[_Evidence], top1: str, *, roles: tuple[str, str], lex: Lexicon
) -> tuple[list[_WordReading], int]:
    """One word as Tesseract cut it: one syllable, or several when it lost the spaces between them."""
    whole = _decode_span(evidence, role=roles[0] if roles[0] == "surname" else roles[1], lex=lex, top1=top1)
    if whole is None:
        return [], 0
    letters = sum(1 for ev in evidence if ev.top is not None)
    if letters >= 4 and (not whole.known or letters > MAX_SYLLABLE_LETTERS or whole.confidence < 0.5):
        parts = _split_word(evidence, roles=roles, lex=lex)
        if parts is not None:
            split_cost = sum(p.cost for p in parts) + (SPLIT - lex.typical_prior) * (len(parts) - 1)
            if split_cost < whole.cost:
                return parts, len(parts) - 1
    return [whole], 0


def _mrz_segments(words: list[list[_Evidence]], mrz: list[str]) -> list[list[_Evidence]] | None:
    """The symbols cut into the MRZ's words, where Tesseract split or merged words differently."""
    flat = [ev for word in words for ev in word]
    starts = set()
    position = 0
    for word in words:
        starts.add(position)
        position += len(word)
    n, k = len(flat), len(mrz)
    inf = math.inf
    best = [[inf] * (n + 1) for _ in range(k + 1)]
    back = [[0] * (n + 1) for _ in range(k + 1)]
    best[0][0] = 0.0
    for w, mrz_word in enumerate(mrz, start=1):
        for j in range(1, n + 1):
            for i in range(max(0, j - len(mrz_word) - 3), j):
                if best[w - 1][i] == inf:
                    continue
                _, cost = _mrz_spelled(mrz_word, flat[i:j])
                cost += 0.0 if i in starts else SPLIT
                cost += MERGE * sum(1 for s in starts if i < s < j)
                if best[w - 1][i] + cost < best[w][j]:
                    best[w][j], back[w][j] = best[w - 1][i] + cost, i
    if best[k][n] == inf:
        return None
    segments: list[list[_Evidence]] = []
    j = n
    for w in range(k, 0, -1):
        i = back[w][j]
        segments.append(flat[i:j])
        j = i
    return list(reversed(segments))


def _mrz_truncated(mrz_words: list[str]) -> bool:
    """Whether the MRZ's 30-character name field was full, so that its last word may be cut short."""
    return len(mrz_words[0]) + 2 + len("<".join(mrz_words[1:])) >= 30


def correct_name(choices: LineChoices, *, mrz_words: list[str] | None = None) -> NameReading:
    """The full name that best explains the OCR alternatives, word by word, among the lexicon's syllables.

    `mrz_words` are the MRZ's bare capitals, surname first; each chosen word must spell the same without
    diacritics (where Tesseract split or merged words, the symbols are first cut to the MRZ's words). A word no
    lexicon syllable explains keeps its reading, and the confidence drops.
    """
    lex = lexicon()
    words = [[_Evidence.of(symbol) for symbol in word] for word in choices.words]
    # Specks and marks read on their own: ink that is no letter lies near the line, and may have been read as a
    # tone mark on a letter too (a label's dot above the name, a smudge), so the marks are less sure.
    debris = sum(1 for word in words for ev in word if ev.top is None and ev.best_any >= 0.4)
    words = [word for word in words if any(ev.top is not None for ev in word)]
    top_words = normalise_name(choices.text).split()
    raw = " ".join(top_words)
    if not words:
        return NameReading(raw, 0.0, False, raw.split())
    mrz = [bare(w).upper() for w in mrz_words if w.strip()] if mrz_words else None
    readings: list[_WordReading] = []
    trust = DEBRIS_TRUST ** min(debris, 3)
    if mrz:
        segments = words if len(mrz) == len(words) else _mrz_segments(words, mrz)
        if segments is None:
            mrz, trust = None, trust * 0.5  # the MRZ could not be matched to the line at all
        else:
            truncated = _mrz_truncated(mrz)
            for i, (evidence, mrz_word) in enumerate(zip(segments, mrz, strict=True)):
                top1 = top_words[i] if segments is words and len(top_words) == len(words) else ""
                last = i == len(mrz) - 1
                reading = _decode_span(
                    evidence,
                    role=_role(i, len(mrz)),
                    lex=lex,
                    top1=top1,
                    mrz_word=mrz_word,
                    mrz_truncated=truncated and last,
                )
                readings.append(reading or _WordReading("", False, 0.0, math.inf, math.inf))
    if not mrz:
        aligned_top = len(top_words) == len(words)
        for i, evidence in enumerate(words):
            roles = (_role(i, len(words)), "given" if i == len(words) - 1 else "middle")
            parts, splits = _decode_ocr_word(evidence, top_words[i] if aligned_top else "", roles=roles, lex=lex)
            readings.extend(parts)
            trust *= SPLIT_TRUST**splits
    full_name = " ".join(r.text for r in readings if r.text)
    confidence = math.prod(r.confidence for r in readings) * trust
    if not 2 <= len(readings) <= 6:
        confidence *= 0.5  # a one-word name, or more words than names have: likely a misread line
    return NameReading(
        full_name=full_name,
        confidence=max(0.0, min(1.0, confidence)),
        changed=full_name != raw,
        unknown_words=[r.text for r in readings if r.text and not r.known],
    )


def _role(index: int, count: int) -> str:
    """What a word is by its place: the surname first, the given name last, middle names between."""
    return "surname" if index == 0 else "given" if index == count - 1 else "middle"
