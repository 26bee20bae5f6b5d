"""SMS gateways: the file outbox across processes, and the HTTP client against a real server on loopback."""

from __future__ import annotations

import fcntl
import json
import multiprocessing
import os
import socket
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import forms.sms
from forms.sms import HttpGateway, OutboxGateway, SmsError, gateway_from_config, read_outbox

PHONE = "0912345678"
TEXT = "Mã OTP tạo tài khoản Dịch vụ công của ông/bà là 012345. Không chia sẻ mã này."
TOKEN = "s3cret-gateway-token"


# --- outbox -------------------------------------------------------------------------------------------------------


def test_outbox_writes_one_json_line_per_message_with_vietnamese_intact(tmp_path: Path) -> None:
    path = tmp_path / "sms" / "nested" / "outbox.jsonl"  # the folder does not exist yet
    gateway = OutboxGateway(path)
    gateway.send(PHONE, TEXT)
    gateway.send("0987654321", "Mật khẩu: Ab3@xyzKLmn")

    raw = path.read_text(encoding="utf-8")
    assert TEXT in raw  # written as UTF-8, not as \u escapes
    lines = raw.splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert set(first) == {"to", "text", "at"}
    assert first["to"] == PHONE
    assert first["text"] == TEXT
    at = forms.sms.datetime.fromisoformat(first["at"])
    assert at.utcoffset() is not None and at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert read_outbox(path) == [json.loads(line) for line in lines]


def test_outbox_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "outbox.jsonl"
    old = os.umask(0)  # even under a umask that masks nothing
    try:
        OutboxGateway(path).send(PHONE, TEXT)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_outbox_tightens_an_existing_lax_file(tmp_path: Path) -> None:
    path = tmp_path / "outbox.jsonl"
    path.touch()
    path.chmod(0o644)
    OutboxGateway(path).send(PHONE, TEXT)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_read_outbox_of_a_missing_file_is_empty(tmp_path: Path) -> None:
    assert read_outbox(tmp_path / "never-written.jsonl") == []


def test_outbox_waits_for_another_holder_of_the_lock(tmp_path: Path) -> None:
    # On a local Linux disk one O_APPEND write is whole even without the lock, so the test below cannot tell whether
    # the lock is taken; this one can: a writer (another process, another tool, read_outbox) holding it holds us off.
    path = tmp_path / "outbox.jsonl"
    path.touch(mode=0o600)
    with path.open("rb") as holder:
        fcntl.flock(holder.fileno(), fcntl.LOCK_EX)
        sender = threading.Thread(target=OutboxGateway(path).send, args=(PHONE, TEXT))
        sender.start()
        sender.join(0.3)
        assert sender.is_alive()
        assert path.stat().st_size == 0
        fcntl.flock(holder.fileno(), fcntl.LOCK_UN)
    sender.join(5)
    assert not sender.is_alive()
    assert [r["text"] for r in read_outbox(path)] == [TEXT]


def _write_many(path: str, writer: int, count: int, text: str) -> None:
    gateway = OutboxGateway(Path(path))
    for n in range(count):
        gateway.send(f"09{writer:02d}{n:06d}", f"{writer}:{n}:{text}")


def test_concurrent_writers_in_several_processes_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "outbox.jsonl"
    # Lines far longer than a pipe buffer or a page, so that an unlocked append would be split and mixed.
    text = "Mật khẩu đăng nhập Cổng dịch vụ công quốc gia của ông/bà là " * 300
    writers, count = 6, 40
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=_write_many, args=(str(path), w, count, text)) for w in range(writers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0

    lines = path.read_bytes().decode("utf-8").split("\n")
    assert lines[-1] == ""
    records = [json.loads(line) for line in lines[:-1]]
    assert len(records) == writers * count
    assert {r["text"] for r in records} == {f"{w}:{n}:{text}" for w in range(writers) for n in range(count)}
    # Each writer's own messages stay in the order it sent them.
    for w in range(writers):
        mine = [int(r["text"].split(":")[1]) for r in records if r["text"].startswith(f"{w}:")]
        assert mine == list(range(count))


# --- HTTP gateway against a real server ---------------------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    raw: bytes | None = None  # written instead of a well-formed response (b"" hangs up without answering)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class GatewayServer:
    """A loopback HTTP server that answers with a script of replies (the last one repeats) and records requests."""

    replies: list[Reply]
    received: list[Received] = field(default_factory=list)
    url: str = ""

    def reply_for(self, index: int) -> Reply:
        return self.replies[min(index, len(self.replies) - 1)]


Serve = Callable[..., GatewayServer]


@pytest.fixture
def serve() -> Iterator[Serve]:
    servers: list[ThreadingHTTPServer] = []

    def start(*replies: Reply) -> GatewayServer:
        script = GatewayServer(list(replies) or [Reply()])
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with lock:
                    index = len(script.received)
                    script.received.append(Received(self.path, dict(self.headers.items()), body))
                reply = script.reply_for(index)
                time.sleep(reply.delay)
                if reply.raw is not None:
                    self.wfile.write(reply.raw)
                    self.close_connection = True
                    return
                payload = b'{"ok": true}' if reply.status < 300 else b'{"error": "see status"}'
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up waiting

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        servers.append(server)
        # A short poll interval keeps shutdown (which waits one poll) from adding half a second to every test.
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        script.url = f"http://127.0.0.1:{server.server_address[1]}/sms"
        return script

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pauses the gateway takes between retries, recorded and cut short so that the tests stay fast."""
    taken: list[float] = []

    def sleep(seconds: float) -> None:
        taken.append(seconds)
        time.sleep(min(seconds, 0.01))

    monkeypatch.setattr(forms.sms, "_sleep", sleep)
    return taken


def _assert_private(error: SmsError) -> None:
    message = str(error)
    assert message.startswith("Không gửi được tin nhắn: ")
    assert TEXT not in message and "012345" not in message
    assert TOKEN not in message
    assert PHONE not in message


def test_success_posts_the_message_with_bearer_and_idempotency_key(serve: Serve, pauses: list[float]) -> None:
    server = serve(Reply(200))
    HttpGateway(server.url, TOKEN).send(PHONE, TEXT)

    assert len(server.received) == 1
    request = server.received[0]
    assert request.path == "/sms"
    assert json.loads(request.body.decode("utf-8")) == {"to": PHONE, "text": TEXT}
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    assert uuid.UUID(request.headers["Idempotency-Key"]).version == 4
    assert pauses == []


def test_each_message_has_its_own_idempotency_key(serve: Serve, pauses: list[float]) -> None:
    server = serve(Reply(202))
    gateway = HttpGateway(server.url, TOKEN)
    gateway.send(PHONE, TEXT)
    gateway.send(PHONE, TEXT)
    keys = [r.headers["Idempotency-Key"] for r in server.received]
    assert len(keys) == 2 and keys[0] != keys[1]


def test_unavailable_then_ok_is_retried_once_with_the_same_key(serve: Serve, pauses: list[float]) -> None:
    server = serve(Reply(503), Reply(200))
    HttpGateway(server.url, TOKEN, backoff=0.2).send(PHONE, TEXT)

    assert len(server.received) == 2
    first, second = server.received
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    assert first.body == second.body
    assert pauses == [0.2]


def test_retry_after_is_honoured_up_to_five_seconds(serve: Serve, pauses: list[float]) -> None:
    server = serve(Reply(429, {"Retry-After": "2"}), Reply(503, {"Retry-After": "120"}), Reply(200))
    HttpGateway(server.url, TOKEN).send(PHONE, TEXT)
    assert len(server.received) == 3
    assert pauses == [2.0, 5.0]


def test_busy_gateway_gives_a_retryable_error_after_the_retries(serve: Serve, pauses: list[float]) -> None:
    server = serve(Reply(504))
    with pytest.raises(SmsError) as caught:
        HttpGateway(server.url, TOKEN, retries=2, backoff=0.1).send(PHONE, TEXT)
    assert caught.value.retryable
    assert caught.value.status == 504
    assert len(server.received) == 3
    assert pauses == [0.1, 0.2]  # backoff doubles
    _assert_private(caught.value)


@pytest.mark.parametrize("status", [400, 401, 404, 422, 500, 302])
def test_other_errors_are_sent_once_and_not_retryable(serve: Serve, pauses: list[float], status: int) -> None:
    headers = {"Location": "http://127.0.0.1:9/elsewhere"} if status == 302 else {}
    server = serve(Reply(status, headers))
    with pytest.raises(SmsError) as caught:
        HttpGateway(server.url, TOKEN).send(PHONE, TEXT)
    assert len(server.received) == 1
    assert not caught.value.retryable
    assert caught.value.status == status
    assert str(status) in str(caught.value)
    assert pauses == []
    _assert_private(caught.value)


def test_no_answer_within_the_timeout_is_not_retried(serve: Serve, pauses: list[float]) -> None:
    server = serve(Reply(200, delay=1.5))
    started = time.monotonic()
    with pytest.raises(SmsError) as caught:
        HttpGateway(server.url, TOKEN, timeout=0.3, retries=3).send(PHONE, TEXT)
    assert time.monotonic() - started < 1.5
    assert not caught.value.retryable  # the gateway may have sent it: the officer asks the citizen first
    assert caught.value.status is None
    assert "không trả lời" in str(caught.value)
    time.sleep(0.2)  # a retry, had there been one, would have arrived by now
    assert len(server.received) == 1
    assert pauses == []
    _assert_private(caught.value)


@pytest.mark.parametrize("raw", [b"", b"garbage\r\n\r\n"], ids=["hang-up", "garbage"])
def test_a_broken_answer_after_sending_is_not_retried(serve: Serve, pauses: list[float], raw: bytes) -> None:
    server = serve(Reply(raw=raw))
    with pytest.raises(SmsError) as caught:
        HttpGateway(server.url, TOKEN).send(PHONE, TEXT)
    assert not caught.value.retryable
    assert len(server.received) == 1
    assert pauses == []
    _assert_private(caught.value)


def test_closed_port_is_retried_then_retryable(pauses: list[float]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(SmsError) as caught:
        HttpGateway(f"http://127.0.0.1:{port}/sms", TOKEN, retries=2, backoff=0.05).send(PHONE, TEXT)
    assert caught.value.retryable
    assert caught.value.status is None
    assert pauses == [0.05, 0.1]
    _assert_private(caught.value)


def test_retries_zero_means_one_attempt(serve: Serve, pauses: list[float]) -> None:
    server = serve(Reply(503))
    with pytest.raises(SmsError) as caught:
        HttpGateway(server.url, TOKEN, retries=0).send(PHONE, TEXT)
    assert caught.value.retryable
    assert len(server.received) == 1
    assert pauses == []


def test_token_stays_out_of_the_repr() -> None:
    assert TOKEN not in repr(HttpGateway("http://127.0.0.1:1/sms", TOKEN))


@pytest.mark.parametrize("url", ["file:///etc/passwd", "http:///sms", "http://127.0.0.1:port/sms", "127.0.0.1/sms"])
def test_only_http_urls_with_a_host_are_accepted(url: str) -> None:
    with pytest.raises(ValueError):
        HttpGateway(url, TOKEN)


# --- configuration ------------------------------------------------------------------------------------------------


def test_gateway_from_config(tmp_path: Path) -> None:
    outbox = gateway_from_config("outbox", outbox=tmp_path / "o.jsonl", url=None, token=None)
    assert isinstance(outbox, OutboxGateway) and outbox.path == tmp_path / "o.jsonl"
    http = gateway_from_config(" HTTP ", outbox=tmp_path, url="http://127.0.0.1:1/sms", token=TOKEN)
    assert isinstance(http, HttpGateway) and http.url == "http://127.0.0.1:1/sms"
    with pytest.raises(ValueError):
        gateway_from_config("http", outbox=tmp_path, url=None, token=TOKEN)
    with pytest.raises(ValueError):
        gateway_from_config("http", outbox=tmp_path, url="http://127.0.0.1:1/sms", token=None)
    with pytest.raises(ValueError):
        gateway_from_config("carrier-pigeon", outbox=tmp_path, url=None, token=None)
