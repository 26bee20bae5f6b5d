"""The one wrapper of SANE's `scanimage`: a flatbed scan at 300 dpi as TIFF bytes, its failures in plain words."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache

from intake.errors import ExitCode, IntakeError

PROGRAM = "scanimage"
# --device-name, --format=tiff and a TIFF carrying its resolution are all older than this; Debian 11 has 1.0.31.
MIN_VERSION = (1, 0, 27)
DEFAULT_RESOLUTION = 300
# A whole A4 bed at 300 dpi takes 10 to 40 s on the flatbeds wards use; a scanner silent for 2 minutes is stuck.
TIMEOUT_S = 120.0
INSTALL_HINT = "Debian or Ubuntu: apt-get install sane-utils"

# scanimage exits with the SANE status of the failed call (sane/sane.h); what each means for the officer.
_STATUS_WORDS: dict[int, tuple[str, str]] = {
    3: ("the scanner is busy (another program is using it)", "Máy quét đang bận. Thử lại sau giây lát."),
    6: ("the document feeder is jammed", "Máy quét bị kẹt giấy. Gỡ giấy kẹt rồi quét lại."),
    7: ("the document feeder is empty", "Khay nạp giấy trống. Đặt thẻ lên mặt kính rồi quét lại."),
    8: ("the scanner's cover is open", "Nắp máy quét đang mở. Đóng nắp rồi quét lại."),
    9: ("the scanner stopped answering (I/O error)", "Mất kết nối với máy quét. Kiểm tra cáp và nguồn rồi quét lại."),
    10: ("the scanner ran out of memory", "Máy quét hết bộ nhớ. Tắt rồi bật lại máy quét."),
    11: ("access to the scanner was denied", "Không có quyền dùng máy quét. Báo quản trị viên (nhóm scanner)."),
}  # fmt: skip


class ScannerError(IntakeError):
    """The scanner could not give a scan. `message` is English for the command line; `vietnamese` for the officer.

    Exit code 1: like a broken installation, it is never the citizen's file.
    """

    exit_code = ExitCode.error

    def __init__(self, message: str, vietnamese: str, *, device: str | None = None) -> None:
        super().__init__(message, source=device)
        self.vietnamese = vietnamese
        self.device = device


class ScannerMissing(ScannerError):
    """`scanimage` is not installed, or too old."""


@dataclass(frozen=True)
class Scan:
    """One page from the flatbed: a TIFF file's bytes and how it was made."""

    data: bytes
    device: str
    resolution: int
    mode: str


def _version_of(text: str) -> tuple[int, ...] | None:
    # "scanimage (sane-backends) 1.1.1-debian; backend version 1.1.1"
    found = re.search(r"sane-backends\)\s+(\d+)\.(\d+)\.(\d+)", text)
    return tuple(int(part) for part in found.groups()) if found else None


@lru_cache(maxsize=1)
def scanimage_version() -> tuple[int, ...]:
    """The installed scanimage's version; ScannerMissing when it is absent, unrunnable or too old."""
    program = shutil.which(PROGRAM)
    if program is None:
        raise ScannerMissing(
            f"{PROGRAM} is not installed ({INSTALL_HINT})",
            "Máy này chưa cài SANE (gói sane-utils) nên không quét trực tiếp được. Báo quản trị viên.",
        )
    try:
        done = subprocess.run([program, "--version"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ScannerMissing(
            f"{PROGRAM} --version failed: {error}", "Chương trình quét (SANE) không chạy được."
        ) from error
    version = _version_of(done.stdout + done.stderr)
    if version is None or version < MIN_VERSION:
        wanted = ".".join(map(str, MIN_VERSION))
        raise ScannerMissing(
            f"{PROGRAM} {version or 'of unknown version'} is older than {wanted} ({INSTALL_HINT})",
            f"Chương trình quét (SANE) quá cũ; cần bản {wanted} trở lên. Báo quản trị viên.",
        )
    return version


def scan_page(
    device: str, *, resolution: int = DEFAULT_RESOLUTION, mode: str = "Color", timeout: float = TIMEOUT_S
) -> Scan:
    """Scan the flatbed's whole bed on `device` (a SANE name: `scanimage -L` lists them; `test` is SANE's own).

    Colour, `resolution` dpi, TIFF (lossless, and it carries the resolution the card finder measures by).
    Raises ScannerError with what to do when the scanner cannot.
    """
    scanimage_version()
    command = [
        PROGRAM,
        f"--device-name={device}",
        "--resolution",
        str(resolution),
        "--mode",
        mode,
        "--format=tiff",
    ]
    try:
        done = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as error:
        raise ScannerError(
            f"{device}: no answer from the scanner in {timeout:.0f} s",
            f"Máy quét không trả lời sau {timeout:.0f} giây. Tắt rồi bật lại máy quét.",
            device=device,
        ) from error
    except OSError as error:
        raise ScannerMissing(
            f"{PROGRAM} could not be run: {error}", "Chương trình quét (SANE) không chạy được."
        ) from error
    stderr = done.stderr.decode("utf-8", "replace").strip()
    if done.returncode != 0 or not done.stdout:
        raise _translate(device, done.returncode, stderr)
    return Scan(data=done.stdout, device=device, resolution=resolution, mode=mode)


def _translate(device: str, code: int, stderr: str) -> ScannerError:
    last = stderr.splitlines()[-1] if stderr else f"exit code {code}"
    if "open of device" in stderr:
        return ScannerError(
            f"{device}: the scanner cannot be opened ({last}); `scanimage -L` lists the scanners this machine sees",
            f"Không mở được máy quét {device}. Kiểm tra máy quét đã bật và cắm cáp, hoặc báo quản trị viên.",
            device=device,
        )
    if code in _STATUS_WORDS:
        english, vietnamese = _STATUS_WORDS[code]
        return ScannerError(f"{device}: {english} ({last})", vietnamese, device=device)
    return ScannerError(
        f"{device}: the scan failed ({last})",
        "Máy quét báo lỗi, chưa quét được. Thử lại; nếu vẫn lỗi, báo quản trị viên.",
        device=device,
    )
