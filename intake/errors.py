"""Intake errors: each knows its exit code and tells the officer, in a short sentence, what to do."""

from __future__ import annotations

from enum import IntEnum
from typing import Any, ClassVar


class ExitCode(IntEnum):
    """Exit codes of the `motcua` command. Other tools rely on them: keep the numbers stable."""

    ok = 0
    error = 1  # unexpected: a bug or a broken installation, never the citizen's file
    usage = 2
    unreadable_input = 3  # empty, truncated, not an image or PDF, corrupt
    input_too_large = 4  # bytes, pixels or pages over the limits (decompression bombs included)
    encrypted_pdf = 5
    no_card_found = 6
    pdf_over_budget = 7


def _size(n: int) -> str:
    """Bytes as an officer reads them, in binary units like the 5 MB ceiling (5 × 1024 × 1024 bytes)."""
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n / (1024 * 1024):.1f} MB"


def _mpx(n: int) -> str:
    return f"{n / 1_000_000:.1f} million" if n >= 1_000_000 else f"{n:,}"


def _where(source: str | None, page: int | None = None) -> str:
    """The message's prefix: the file name, and the page (counted from 1, as people count) when it matters."""
    where = source or "input"
    return f"{where} page {page + 1}" if page is not None else where


def _rebuild(cls: type[IntakeError], state: dict[str, Any]) -> IntakeError:
    err = cls.__new__(cls)
    Exception.__init__(err, state.get("message", ""))
    err.__dict__.update(state)
    return err


class IntakeError(Exception):
    """Base of everything intake refuses. `message` is for the officer; `exit_code` for the command line."""

    exit_code: ClassVar[ExitCode] = ExitCode.error

    def __init__(self, message: str, *, source: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.source = source

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take other arguments than the message: rebuild from attributes, so that errors survive
        # the trip back from a batch worker process.
        return (_rebuild, (type(self), self.__dict__.copy()))


class UnreadableInput(IntakeError):
    """The file cannot be read as a scan at all."""

    exit_code = ExitCode.unreadable_input


class EmptyFile(UnreadableInput):
    def __init__(self, source: str | None) -> None:
        super().__init__(f"{_where(source)}: the file is empty. Scan the card again.", source=source)


class TruncatedFile(UnreadableInput):
    def __init__(self, source: str | None, detail: str | None = None) -> None:
        super().__init__(
            f"{_where(source)}: the file is cut short (an interrupted scan, copy or upload). Scan or copy it again.",
            source=source,
        )
        self.detail = detail


class UnsupportedFile(UnreadableInput):
    def __init__(self, source: str | None, looks_like: str | None = None) -> None:
        what = f" (it looks like {looks_like})" if looks_like else ""
        super().__init__(
            f"{_where(source)}: not a JPEG, PNG, TIFF or PDF file{what}. Save the scan as one of these.",
            source=source,
        )
        self.looks_like = looks_like


class CorruptFile(UnreadableInput):
    def __init__(self, source: str | None, detail: str | None = None) -> None:
        super().__init__(f"{_where(source)}: the file is damaged. Scan the card again.", source=source)
        self.detail = detail


class InputTooLarge(IntakeError):
    """The file is over a size limit: refused before it can exhaust the machine."""

    exit_code = ExitCode.input_too_large


class FileTooLarge(InputTooLarge):
    def __init__(self, source: str | None, size: int, limit: int) -> None:
        super().__init__(
            f"{_where(source)}: {_size(size)}, over the {_size(limit)} limit. Scan at 300 dpi, as JPEG.",
            source=source,
        )
        self.size = size
        self.limit = limit


class TooManyPixels(InputTooLarge):
    """A page (or all pages together) has more pixels than allowed; found from the header, before decoding."""

    def __init__(
        self,
        source: str | None,
        pixels: int | None,
        limit: int,
        *,
        page: int | None = None,
        total: bool = False,
    ) -> None:
        count = f"{_mpx(pixels)} pixels" if pixels is not None else "too many pixels"
        scope = " in all pages" if total else ""
        super().__init__(
            f"{_where(source, page)}: {count}{scope}, over the {_mpx(limit)} limit. Scan at 300 dpi.",
            source=source,
        )
        self.pixels = pixels
        self.limit = limit
        self.page = page
        self.total = total


class TooManyPages(InputTooLarge):
    def __init__(self, source: str | None, pages: int, limit: int, *, at_least: bool = False) -> None:
        count = f"{'at least ' if at_least else ''}{pages} pages"
        super().__init__(
            f"{_where(source)}: {count}, over the {limit}-page limit. Put only the card's sides in the file.",
            source=source,
        )
        self.pages = pages
        self.limit = limit


class EncryptedPdf(IntakeError):
    exit_code = ExitCode.encrypted_pdf

    def __init__(self, source: str | None) -> None:
        super().__init__(
            f"{_where(source)}: the PDF is password-protected. Save it without a password, or scan again.",
            source=source,
        )


class NoCardFound(IntakeError):
    """Raised by intake.cards. `page` counts from 0 like `Page.index`; None when the file has one image."""

    exit_code = ExitCode.no_card_found

    def __init__(self, file: str | None, page: int | None = None) -> None:
        super().__init__(
            f"{_where(file, page)}: no ID card found. Lay the card flat on the glass, away from the edges, "
            "and scan again.",
            source=file,
        )
        self.file = file
        self.page = page


class PdfOverBudget(IntakeError):
    """Even at the legibility floor the merged PDF is over the size budget."""

    exit_code = ExitCode.pdf_over_budget

    def __init__(self, size: int, budget: int, *, dpi: int, quality: int, source: str | None = None) -> None:
        super().__init__(
            f"{source + ': t' if source else 'T'}he merged PDF is {_size(size)} even at {dpi} dpi, "
            f"JPEG quality {quality} (the legibility floor): over the {_size(budget)} budget. "
            "Check that the images are cropped cards, not whole pages.",
            source=source,
        )
        self.size = size
        self.budget = budget
        self.dpi = dpi
        self.quality = quality
