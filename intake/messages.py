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

# What a batch says about a card or a file that is not an intake refusal.
ONLY_FRONT = "Chỉ có mặt trước; không tìm thấy mặt sau tương ứng. Hãy quét mặt sau."
ONLY_BACK = "Chỉ có mặt sau; không tìm thấy mặt trước tương ứng. Hãy quét mặt trước."
ONLY_ONE_SIDE = "Chỉ có một mặt thẻ; không tìm thấy mặt còn lại. Hãy quét đủ hai mặt."
DUPLICATE = "Trùng nội dung với tệp {other}; chỉ xử lý một lần."
CHANGED = "Tệp {source} đã thay đổi trong lúc xử lý; hãy chạy lại lệnh."
UNEXPECTED = "Lỗi khi xử lý {source} (không do bản quét); lần chạy sau sẽ thử lại. Nếu vẫn lỗi, báo quản trị viên."
CRASHED = "Việc đọc {source} làm dừng chương trình; lần chạy sau sẽ thử lại. Nếu vẫn lỗi, báo quản trị viên."
TIMED_OUT = (
    "Việc đọc {source} kéo dài quá {seconds} giây nên đã bị dừng; lần chạy sau sẽ thử lại. "
    "Nếu vẫn quá lâu, báo quản trị viên."
)


def seconds_words(seconds: float) -> str:
    """Seconds as an officer writes them: 120, or 2,5 (a decimal comma)."""
    return f"{seconds:g}".replace(".", ",")


def intake_message(error: IntakeError, source: str | None = None) -> str:
    """A Vietnamese sentence for the refusal; the English original for a kind not listed.

    `source` names the file (default: the error's own, else "đã tải lên", as the counter's upload says).
    """
    where = source or getattr(error, "source", None) or "đã tải lên"
    for kind in type(error).__mro__:
        template = MESSAGES.get(kind)
        if template:
            return template.format(source=where)
    return str(error)
