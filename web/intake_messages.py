"""The intake's refusals in the officer's language: what went wrong with the scan, and what to do."""

from __future__ import annotations

from intake.errors import (
    CorruptFile,
    EmptyFile,
    EncryptedPdf,
    FileTooLarge,
    IntakeError,
    NoCardFound,
    PdfOverBudget,
    TooManyPages,
    TooManyPixels,
    TruncatedFile,
    UnsupportedFile,
)

MESSAGES: dict[type[IntakeError], str] = {
    EmptyFile: "Tệp {source} rỗng. Hãy quét lại thẻ.",
    TruncatedFile: "Tệp {source} bị thiếu dữ liệu (lưu chưa xong?). Hãy quét lại thẻ.",
    UnsupportedFile: "Tệp {source} không phải ảnh quét (JPEG, PNG, TIFF) hay PDF.",
    CorruptFile: "Tệp {source} bị hỏng. Hãy quét lại thẻ.",
    FileTooLarge: "Tệp {source} quá lớn. Hãy quét ở 300 dpi.",
    TooManyPixels: "Ảnh {source} quá lớn. Hãy quét ở 300 dpi.",
    TooManyPages: "Tệp {source} có quá nhiều trang.",
    EncryptedPdf: "Tệp PDF {source} có mật khẩu; hãy dùng bản không khóa.",
    NoCardFound: "Không tìm thấy thẻ CMND/CCCD trong {source}. Hãy đặt thẻ trên mặt kính và quét lại.",
    PdfOverBudget: "Không tạo được tệp PDF dưới 5MB từ các bản quét này.",
}


def intake_message(error: IntakeError) -> str:
    """A Vietnamese sentence for the refusal; the English original for a kind not listed."""
    source = getattr(error, "source", None) or "đã tải lên"
    for kind in type(error).__mro__:
        template = MESSAGES.get(kind)
        if template:
            return template.format(source=source)
    return str(error)
