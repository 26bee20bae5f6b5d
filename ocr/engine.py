"""The one wrapper around Tesseract: a line reader with the model loaded once per process."""

from __future__ import annotations

import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from ocr.names import LineChoices, split_symbols

# Tesseract's OpenMP threads cost more than they give on card-sized crops (measured 1.6x slower per field on
# two cores): one thread per process, and parallelism comes from processes. Must be set before the library loads.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

TESSDATA_CANDIDATES = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
)
# Tesseract returns nothing for a tight crop of a text line; a white margin makes it find the line.
LINE_PADDING = 12


class OcrEngineError(RuntimeError):
    """Tesseract or its language data is missing or failed."""


@dataclass(frozen=True)
class OcrLine:
    text: str
    confidence: float  # mean word confidence, 0..1


class OcrEngine(Protocol):
    """Reads one line of text from a grayscale or BGR crop.

    An implementation must: treat the whole image as one line of text; pad it itself; honour `whitelist` (the
    only characters allowed, or None); return the text stripped of surrounding space and a confidence in [0, 1]
    (0 when nothing was read). It must not keep a reference to the image after returning, and need not be
    thread-safe (`get_engine` gives each thread its own).
    """

    name: str

    def read_line(self, image: np.ndarray, *, lang: str = "vie", whitelist: str | None = None) -> OcrLine: ...

    def read_line_choices(self, image: np.ndarray, *, lang: str = "vie") -> LineChoices:
        """The line with, per word and symbol, the (character, score 0..1) alternatives sorted best first (the
        top-1 among them; an engine without alternatives gives the top-1 alone), for `ocr.names.correct_name`."""
        ...


def tessdata_dir() -> str:
    """Where the traineddata files are: TESSDATA_PREFIX if set, else Debian's and other usual places."""
    env = os.environ.get("TESSDATA_PREFIX")
    candidates = ([env] if env else []) + list(TESSDATA_CANDIDATES)
    for candidate in candidates:
        if candidate and (Path(candidate) / "eng.traineddata").exists():
            return candidate
    raise OcrEngineError(
        "Tesseract language data not found (looked in " + ", ".join(candidates) + "); "
        "install tesseract-ocr-vie and tesseract-ocr-eng"
    )


def _as_gray_padded(image: np.ndarray) -> np.ndarray:
    gray = image if image.ndim == 2 else _to_gray(image)
    return np.pad(gray, LINE_PADDING, mode="constant", constant_values=255)


def _to_gray(image: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


class TesserocrEngine:
    """libtesseract through tesserocr: the model stays loaded, about 20x faster than a process per line."""

    name = "tesserocr"

    def __init__(self, datapath: str | None = None) -> None:
        import tesserocr

        self._tesserocr = tesserocr
        self._datapath = datapath or tessdata_dir()
        self._apis: dict[str, tesserocr.PyTessBaseAPI] = {}

    def _api(self, lang: str) -> object:
        api = self._apis.get(lang)
        if api is None:
            t = self._tesserocr
            try:
                api = t.PyTessBaseAPI(path=self._datapath, lang=lang, psm=t.PSM.SINGLE_LINE, oem=t.OEM.LSTM_ONLY)
            except RuntimeError as exc:
                raise OcrEngineError(f"Tesseract could not load language {lang!r} from {self._datapath}") from exc
            self._apis[lang] = api
        return api

    def read_line(self, image: np.ndarray, *, lang: str = "vie", whitelist: str | None = None) -> OcrLine:
        api = self._api(lang)
        padded = np.ascontiguousarray(_as_gray_padded(image))
        height, width = padded.shape
        api.SetVariable("tessedit_char_whitelist", whitelist or "")  # type: ignore[attr-defined]
        api.SetImageBytes(padded.tobytes(), width, height, 1, width)  # type: ignore[attr-defined]
        api.SetSourceResolution(300)  # type: ignore[attr-defined]
        text = api.GetUTF8Text().strip()  # type: ignore[attr-defined]
        confidence = max(0, api.MeanTextConf()) / 100.0 if text else 0.0  # type: ignore[attr-defined]
        return OcrLine(text=text, confidence=confidence)

    def read_line_choices(self, image: np.ndarray, *, lang: str = "vie") -> LineChoices:
        """The line with Tesseract's alternatives for every symbol, for decoding names against a lexicon.

        `lstm_choice_mode` 2 makes the LSTM keep its per-symbol choices; measured not to change the top-1 text,
        and reset afterwards so `read_line` works as before on the same model.
        """
        t = self._tesserocr
        api = self._api(lang)
        padded = np.ascontiguousarray(_as_gray_padded(image))
        height, width = padded.shape
        api.SetVariable("tessedit_char_whitelist", "")  # type: ignore[attr-defined]
        api.SetVariable("lstm_choice_mode", "2")  # type: ignore[attr-defined]
        try:
            api.SetImageBytes(padded.tobytes(), width, height, 1, width)  # type: ignore[attr-defined]
            api.SetSourceResolution(300)  # type: ignore[attr-defined]
            api.Recognize()  # type: ignore[attr-defined]
            text = " ".join(api.GetUTF8Text().split())  # type: ignore[attr-defined]
            confidence = max(0, api.MeanTextConf()) / 100.0 if text else 0.0  # type: ignore[attr-defined]
            words: list[list[list[tuple[str, float]]]] = []
            iterator = api.GetIterator()  # type: ignore[attr-defined]
            level = t.RIL.SYMBOL
            for symbol in t.iterate_level(iterator, level) if text and iterator is not None else ():
                top = symbol.GetUTF8Text(level)
                if not top:
                    continue
                scores: dict[str, float] = {}
                for choice in symbol.GetChoiceIterator():
                    char = choice.GetUTF8Text()
                    if char:
                        scores[char] = max(scores.get(char, 0.0), max(0.0, choice.Confidence()) / 100.0)
                # The beam's top-1 can be missing from the LSTM's choices; keep it, at its own confidence.
                scores.setdefault(top, max(0.0, symbol.Confidence(level)) / 100.0)
                if symbol.IsAtBeginningOf(t.RIL.WORD) or not words:
                    words.append([])
                words[-1].append(sorted(scores.items(), key=lambda item: -item[1]))
        finally:
            api.SetVariable("lstm_choice_mode", "0")  # type: ignore[attr-defined]
        return LineChoices(text=text, confidence=confidence, words=words)


class PytesseractEngine:
    """The tesseract command through pytesseract, where tesserocr is not installed (a process per call)."""

    name = "pytesseract"

    def __init__(self) -> None:
        import pytesseract

        if not shutil.which("tesseract"):
            raise OcrEngineError("the tesseract program is not installed (apt-get install tesseract-ocr)")
        self._pytesseract = pytesseract

    def read_line(self, image: np.ndarray, *, lang: str = "vie", whitelist: str | None = None) -> OcrLine:
        config = "--psm 7 --oem 1 --dpi 300"
        if whitelist:
            config += f" -c tessedit_char_whitelist={whitelist}"
        data = self._pytesseract.image_to_data(
            _as_gray_padded(image), lang=lang, config=config, output_type=self._pytesseract.Output.DICT
        )
        words = [(w, float(c)) for w, c in zip(data["text"], data["conf"], strict=True) if w.strip()]
        if not words:
            return OcrLine("", 0.0)
        text = " ".join(w for w, _ in words)
        return OcrLine(text=text, confidence=max(0.0, sum(c for _, c in words) / len(words)) / 100.0)

    def read_line_choices(self, image: np.ndarray, *, lang: str = "vie") -> LineChoices:
        """The line as `TesserocrEngine.read_line_choices` gives it, but the CLI has no alternatives: only the
        top-1 character of every symbol, scored with its word's confidence."""
        data = self._pytesseract.image_to_data(
            _as_gray_padded(image),
            lang=lang,
            config="--psm 7 --oem 1 --dpi 300",
            output_type=self._pytesseract.Output.DICT,
        )
        read = [(w.strip(), max(0.0, float(c)) / 100.0) for w, c in zip(data["text"], data["conf"], strict=True)]
        read = [(w, c) for w, c in read if w]
        if not read:
            return LineChoices(text="", confidence=0.0, words=[])
        words = [[[(char, conf)] for char in split_symbols(word)] for word, conf in read]
        return LineChoices(
            text=" ".join(w for w, _ in read), confidence=sum(c for _, c in read) / len(read), words=words
        )


# One engine per thread: libtesseract's API object holds the image and the result of its last call, so two threads
# using one at once read each other's lines. A batch worker has one thread; the web process serves requests on
# several (waitress) and reads [Quét]'s scans on one more.
_per_thread = threading.local()


def get_engine() -> OcrEngine:
    """The calling thread's engine (made on first use, the model loaded once): tesserocr where it imports,
    pytesseract otherwise."""
    engine: OcrEngine | None = getattr(_per_thread, "engine", None)
    if engine is None:
        try:
            engine = TesserocrEngine()
        except ImportError:
            engine = PytesseractEngine()
        _per_thread.engine = engine
    return engine
