"""SMS gateways: the contract every sender keeps, a file outbox for one machine, and an HTTP gateway client."""

from __future__ import annotations

import contextlib
import email.utils
import errno
import fcntl
import http.client
import json
import logging
import os
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "HttpGateway",
    "OutboxGateway",
    "SmsError",
    "SmsGateway",
    "gateway_from_config",
    "read_outbox",
]

log = logging.getLogger(__name__)

# Statuses that say "not processed, try again shortly". 502/504 come from a proxy in front of the gateway; the
# Idempotency-Key lets the gateway drop a second copy if the upstream did act on the first.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
# An officer is waiting at the counter: a gateway asking for a longer pause gets this much and no more.
MAX_RETRY_AFTER = 5.0
# Failures that can only happen while connecting, so the request cannot have reached the gateway.
_CONNECT_ERRNOS = frozenset({errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH})

# Indirection so that tests can watch the pauses without slowing down or patching the time module for everyone.
_sleep = time.sleep


class SmsGateway(Protocol):
    """Something that sends one SMS.

    `send(to, text)` returns only once the message has been handed to the carrier (or to the outbox standing in for
    it); otherwise it raises `SmsError`, with `retryable=True` only when the message was certainly not delivered, so
    that sending it again cannot reach the citizen twice.

    An implementation must not log, store in an error or otherwise leak `text`: it holds OTP codes and passwords.
    It may log the recipient only masked (last digits). It must not retry where a retry could deliver a message twice
    (e.g. after a timeout once the request was sent); where a retry is safe it may retry, within a few seconds, since
    an officer is waiting.
    """

    def send(self, to: str, text: str) -> None: ...


class SmsError(Exception):
    """A message was not sent; the text says what the officer can do.

    `retryable` is True when the message certainly did not reach the carrier, so that sending it again cannot deliver
    it twice (whether trying again will help is in the text); False when it may have been delivered or the gateway
    refused it. `status` is the gateway's HTTP status, when it gave one.
    """

    def __init__(self, reason: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(f"Không gửi được tin nhắn: {reason}")
        self.reason = reason
        self.retryable = retryable
        self.status = status


def _masked(phone: str) -> str:
    # Logs keep only enough of the number to tell two citizens apart in one day's log.
    return "***" + phone[-3:] if len(phone) > 3 else "***"


class OutboxGateway:
    """Appends each message as one JSON line to a file: the gateway for one machine, the demo and the tests."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def send(self, to: str, text: str) -> None:
        record = {"to": to, "text": text, "at": datetime.now(UTC).isoformat(timespec="milliseconds")}
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise SmsError(f"không mở được hộp thư đi {self.path} ({exc.strerror}).", retryable=True) from exc
        try:
            # O_APPEND alone keeps small writes whole, but not long ones, nor a write the kernel splits: the lock
            # makes each line one uninterrupted append across processes.
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                start = os.fstat(fd).st_size
            except OSError as exc:
                raise SmsError(f"không khóa được hộp thư đi {self.path} ({exc.strerror}).", retryable=True) from exc
            try:
                # The file holds codes and passwords; an existing file created under a lax umask is tightened.
                if os.fstat(fd).st_mode & 0o777 != 0o600:
                    os.fchmod(fd, 0o600)
                written = 0
                while written < len(line):
                    written += os.write(fd, line[written:])
            except OSError as exc:
                # A half-written line would break every later reader; take it back so the file stays whole.
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, start)
                raise SmsError(f"không ghi được hộp thư đi {self.path} ({exc.strerror}).", retryable=True) from exc
        finally:
            os.close(fd)  # closing releases the lock
        log.info("SMS to %s written to the outbox", _masked(to))


def read_outbox(path: Path) -> list[dict[str, Any]]:
    """Every message in an outbox file, oldest first; an outbox never written to is empty."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return []
    with os.fdopen(fd, "rb") as file:
        # A shared lock waits out a writer mid-line.
        fcntl.flock(file.fileno(), fcntl.LOCK_SH)
        data = file.read()
    return [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # urllib would turn a redirected POST into a GET without the message and report its 200 as a success, and
    # would carry the bearer token to wherever the redirect points: a redirect is an error here.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class HttpGateway:
    """Sends each message as a JSON POST to an SMS gateway on the ward's network, retrying only where it is safe."""

    def __init__(self, url: str, token: str, *, timeout: float = 5.0, retries: int = 2, backoff: float = 0.5) -> None:
        parts = urllib.parse.urlsplit(url)
        # Checked here so that a bad URL fails at start-up, not as a network error at the counter.
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("SMS gateway URL must be http(s)://host[:port]/path")
        _ = parts.port  # raises ValueError for a port that is not a number
        if retries < 0:
            raise ValueError("retries must be 0 or more")
        self.url = url
        self.token = token
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._opener = urllib.request.build_opener(_NoRedirect)

    def __repr__(self) -> str:
        return f"HttpGateway({self.url!r}, token=***, timeout={self.timeout}, retries={self.retries})"

    def send(self, to: str, text: str) -> None:
        body = json.dumps({"to": to, "text": text}, ensure_ascii=False).encode("utf-8")
        # One key per message, kept across its retries: a gateway that already acted on it answers without sending.
        key = str(uuid.uuid4())
        for attempt in range(self.retries + 1):
            outcome = self._attempt(body, key)
            if outcome is None:
                log.info("SMS to %s accepted by the gateway", _masked(to))
                return
            error, retry_after = outcome
            if attempt == self.retries:
                log.warning("SMS to %s not sent after %d attempts: %s", _masked(to), attempt + 1, error.reason)
                raise error
            delay = min(retry_after, MAX_RETRY_AFTER) if retry_after is not None else self.backoff * 2**attempt
            log.warning(
                "SMS to %s, retry %d of %d in %.1f s: %s", _masked(to), attempt + 1, self.retries, delay, error.reason
            )
            _sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _attempt(self, body: bytes, key: str) -> tuple[SmsError, float | None] | None:
        """Posts once. None: sent. A (retryable error, Retry-After) pair: safe to try again. Raises when it is not."""
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
                "Idempotency-Key": key,
            },
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                status: int = response.status
                retry_after: str | None = response.headers.get("Retry-After")
        except urllib.error.HTTPError as exc:
            with contextlib.closing(exc):
                status, retry_after = exc.code, exc.headers.get("Retry-After")
        except urllib.error.URLError as exc:
            # urllib wraps in URLError only what failed while connecting or sending, never while awaiting the answer.
            return self._connect_failure(exc), None
        except TimeoutError as exc:
            raise SmsError(
                f"máy chủ SMS không trả lời trong {self.timeout:g} giây; tin có thể đã được gửi, "
                "hãy hỏi công dân trước khi gửi lại.",
                retryable=False,
            ) from exc
        except (OSError, http.client.HTTPException) as exc:
            # The request went out and the connection broke, or the answer was garbled: the gateway may have acted.
            raise SmsError(
                f"mất kết nối với máy chủ SMS khi chờ trả lời ({type(exc).__name__}); tin có thể đã được gửi, "
                "hãy hỏi công dân trước khi gửi lại.",
                retryable=False,
            ) from exc
        if 200 <= status < 300:
            return None
        if status in RETRY_STATUSES:
            busy = SmsError(
                f"máy chủ SMS đang bận hoặc quá tải (mã {status}); hãy gửi lại sau ít phút.",
                retryable=True,
                status=status,
            )
            return busy, _retry_after_seconds(retry_after)
        if status in (401, 403):
            reason = f"máy chủ SMS từ chối quyền truy cập (mã {status}); báo quản trị viên kiểm tra mã truy cập."
        elif 300 <= status < 400:
            reason = f"máy chủ SMS chuyển hướng yêu cầu (mã {status}); báo quản trị viên kiểm tra địa chỉ máy chủ."
        elif 400 <= status < 500:
            reason = (
                f"máy chủ SMS từ chối tin nhắn (mã {status}); kiểm tra số điện thoại, báo quản trị viên nếu lặp lại."
            )
        else:
            reason = f"máy chủ SMS báo lỗi (mã {status}); tin có thể đã được gửi, hãy hỏi công dân trước khi gửi lại."
        raise SmsError(reason, retryable=False, status=status)

    def _connect_failure(self, exc: urllib.error.URLError) -> SmsError:
        """The error for a failure before the gateway answered; returns it when a retry is safe, else raises it."""
        # Host and port only: the URL's netloc may carry a user and password.
        parts = urllib.parse.urlsplit(self.url)
        host = f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)
        reason = exc.reason
        if isinstance(reason, socket.gaierror):
            return SmsError(
                f"không tìm thấy máy chủ SMS {host}; kiểm tra cấu hình hoặc mạng rồi gửi lại.", retryable=True
            )
        if isinstance(reason, OSError) and reason.errno in _CONNECT_ERRNOS:
            return SmsError(
                f"không kết nối được máy chủ SMS {host}; kiểm tra máy chủ hoặc mạng rồi gửi lại.", retryable=True
            )
        if isinstance(reason, ssl.SSLError):
            # The TLS handshake comes before the request: nothing was sent. Retrying will not fix a certificate.
            raise SmsError(
                f"không thiết lập được kết nối an toàn (TLS) với máy chủ SMS {host}; báo quản trị viên kiểm tra "
                "chứng chỉ.",
                retryable=True,
            ) from exc
        if isinstance(reason, TimeoutError):
            # A request this small cannot fill the socket buffer, so the timeout is the connection's: nothing reached
            # the gateway. Safe to send again, but not retried here: the officer has already waited the full timeout.
            raise SmsError(
                f"máy chủ SMS {host} không nhận kết nối sau {self.timeout:g} giây; hãy gửi lại sau.", retryable=True
            ) from exc
        # Reset or broken pipe while sending: the gateway may have read the whole request before it failed.
        raise SmsError(
            f"lỗi mạng khi gửi tới máy chủ SMS {host} ({type(reason).__name__}); tin có thể đã được gửi, "
            "hãy hỏi công dân trước khi gửi lại.",
            retryable=False,
        ) from exc


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds from now (it may be a number or an HTTP date); None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def gateway_from_config(kind: str, *, outbox: Path, url: str | None, token: str | None) -> SmsGateway:
    """The gateway configuration names: "outbox" (a file, the one-machine default) or "http" (needs url and token)."""
    name = kind.strip().lower()
    if name == "outbox":
        return OutboxGateway(outbox)
    if name == "http":
        if not url:
            raise ValueError("SMS gateway 'http' needs a URL")
        # An SMS endpoint that takes any caller would send codes and passwords for anyone on the network.
        if not token:
            raise ValueError("SMS gateway 'http' needs a token")
        return HttpGateway(url, token)
    raise ValueError(f"unknown SMS gateway {kind!r}: expected 'outbox' or 'http'")
