"""The counter application through Flask's test client, on a real database (SQLite, and PostgreSQL where present)."""

from __future__ import annotations

import io
import json
import re
import threading
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pymupdf
import pytest
from sqlmodel import Session, select

from forms.db import make_engine
from forms.models import AccountRequest, AuditEvent, CitizenAccount, Officer, OtpChallenge, Unit
from forms.security import check_password, hash_password
from forms.sms import read_outbox
from web.app import create_app

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "scans"
PASSWORD = "mat-khau-thu-nghiem"
# A valid 12-digit number: Quảng Trị (045), a woman born in the 20th century (1), in 1990.
ID_NUMBER = "045190001234"


@dataclass
class Clock:
    """The application's clock, moved by the tests (the OTP's 2 minutes, cool-downs, days)."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 29, 3, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Counter:
    app: Any
    clock: Clock
    outbox: Path
    units: dict[str, int]

    def session(self) -> Session:
        return Session(self.app.extensions["motcua"].engine, expire_on_commit=False)

    def desk(self, username: str = "mai") -> Desk:
        desk = Desk(self, self.app.test_client())
        desk.login(username)
        return desk

    def codes(self) -> list[str]:
        return [re.search(r"\b(\d{6})\b", line["text"]).group(1) for line in read_outbox(self.outbox)  # type: ignore[union-attr]
                if "OTP" in line["text"]]  # fmt: skip


@dataclass
class Desk:
    """One officer's browser: a test client with its session and CSRF token."""

    counter: Counter
    client: Any
    token: str = ""

    def login(self, username: str) -> None:
        page = self.client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        response = self.client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
        assert response.status_code == 302, response.get_data(as_text=True)
        page = self.client.get("/accounts/").get_data(as_text=True)
        self.token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)  # type: ignore[union-attr]

    def new_request(self) -> str:
        response = self.client.post("/accounts/new", data={"csrf_token": self.token})
        assert response.status_code == 302
        return str(response.headers["Location"])

    def post(self, url: str, action: str, **fields: Any) -> Any:
        data = {"csrf_token": self.token, "action": action, **fields}
        return self.client.post(url, data=data, content_type="multipart/form-data")


def citizen(**changes: str) -> dict[str, str]:
    values = {
        "id_number": ID_NUMBER,
        "full_name": "Nguyễn Thị Hương",
        "date_of_birth": "05/03/1990",
        "phone": "0905 123 457",
        "email": "",
        "unit": "1",
    }
    values.update(changes)
    return values


def pdf_bytes() -> bytes:
    document = pymupdf.open()
    document.new_page().insert_text((72, 72), "CCCD")
    return document.tobytes()


def with_attachment(desk: Desk, url: str) -> None:
    response = desk.post(url, "save", attachment=(io.BytesIO(pdf_bytes()), "CCCD.pdf"), **citizen())
    assert response.status_code == 200, response.get_data(as_text=True)


def errors_of(response: Any) -> dict[str, str]:
    page = response.get_data(as_text=True)
    return dict(re.findall(r'<span class="error" id="error-(\w+)" role="alert">([^<]+)</span>', page))


@pytest.fixture
def counter(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("MOTCUA_INSTANCE", str(tmp_path / "instance"))
    clock = Clock()
    outbox = tmp_path / "outbox.jsonl"
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "SECRET_KEY": "khoa-bi-mat-thu-nghiem",
            "STORAGE": str(tmp_path / "storage"),
            "SMS_GATEWAY": "outbox",
            "SMS_OUTBOX": str(outbox),
            "CLOCK": clock,
        }
    )
    engine = app.extensions["motcua"].engine
    with Session(engine) as session:
        p5 = Unit(code="P5", name="Bộ phận một cửa Phường 5")
        p6 = Unit(code="P6", name="Bộ phận một cửa Phường 6")
        session.add_all([p5, p6])
        session.flush()
        people = [
            ("mai", "Nguyễn Thị Mai", p5, "officer"),
            ("lan", "Trần Thị Lan", p5, "officer"),
            ("hung", "Lê Văn Hùng", p6, "officer"),
            ("quantri", "Phạm Quản Trị", p6, "administrator"),
        ]
        for username, full_name, unit, role in people:
            session.add(Officer(username=username, full_name=full_name, phone="0905000111", unit_id=unit.id or 0,
                                role=role, password_hash=hash_password(PASSWORD)))  # fmt: skip
        session.commit()
        units = {"P5": p5.id or 0, "P6": p6.id or 0}
    yield Counter(app, clock, outbox, units)
    engine.dispose()


# ---------------------------------------------------------------- logging in, CSRF


def test_pages_need_a_login(counter: Counter) -> None:
    client = counter.app.test_client()
    response = client.get("/accounts/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.get("/accounts/requests/1").status_code == 302
    assert client.get("/accounts/export.csv").status_code == 302


def test_wrong_password_is_refused_without_saying_which_part(counter: Counter) -> None:
    client = counter.app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    wrong = client.post("/login", data={"username": "mai", "password": "sai", "csrf_token": token})
    nobody = client.post("/login", data={"username": "khong-co", "password": "sai", "csrf_token": token})
    assert wrong.status_code == nobody.status_code == 401
    assert "Tên đăng nhập hoặc mật khẩu không đúng." in wrong.get_data(as_text=True)
    assert wrong.get_data(as_text=True).count("không đúng") == nobody.get_data(as_text=True).count("không đúng")


def test_session_cookie_is_http_only_and_same_site(counter: Counter) -> None:
    client = counter.app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    response = client.post("/login", data={"username": "mai", "password": PASSWORD, "csrf_token": token})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_forms_without_the_csrf_token_are_refused(counter: Counter) -> None:
    desk = counter.desk()
    assert desk.client.post("/accounts/new", data={}).status_code == 400
    url = desk.new_request()
    response = desk.client.post(url, data={"action": "save", **citizen()})
    assert response.status_code == 400
    with counter.session() as session:
        assert session.exec(select(AccountRequest)).one().id_number is None  # nothing was written
    assert counter.app.test_client().post("/login", data={"username": "mai", "password": PASSWORD}).status_code == 400


def test_logout_ends_the_session(counter: Counter) -> None:
    desk = counter.desk()
    assert desk.client.post("/logout", data={"csrf_token": desk.token}).status_code == 302
    assert desk.client.get("/accounts/").status_code == 302


# ---------------------------------------------------------------- the seed's rules


def test_every_missing_field_is_named_at_once(counter: Counter) -> None:
    desk = counter.desk()
    url = desk.new_request()
    response = desk.post(url, "download", id_number="", full_name="", date_of_birth="", phone="", email="", unit="")
    assert response.status_code == 422
    errors = errors_of(response)
    assert set(errors) >= {"id_number", "full_name", "date_of_birth", "phone", "unit", "attachment"}
    assert "email" not in errors  # optional


@pytest.mark.parametrize(
    ("field_name", "value"),
    [
        ("id_number", "12345678"),  # 8 digits
        ("id_number", "1234567890"),  # 10 digits
        ("id_number", "045990001234"),  # a century digit that puts the birth in the 24th century
        ("full_name", "Nguyễn Văn 3"),
        ("date_of_birth", "31/02/1990"),
        ("date_of_birth", "01/01/2099"),
        ("date_of_birth", "05/03/1991"),  # the number says 1990
        ("phone", "024 3825 1234"),  # a fixed line in Hà Nội
        ("phone", "0905 123"),
        ("email", "hương@"),
        ("unit", "999"),
    ],
)
def test_each_rule_refuses_its_bad_value(counter: Counter, field_name: str, value: str) -> None:
    desk = counter.desk()
    url = desk.new_request()
    with_attachment(desk, url)
    response = desk.post(url, "download", **citizen(**{field_name: value}))
    assert response.status_code == 422
    assert list(errors_of(response)) == [field_name]
    assert f'value="{value}"' in response.get_data(as_text=True) or field_name == "unit"  # what was typed stays


def test_an_officer_cannot_pick_another_units_name_on_the_form(counter: Counter) -> None:
    desk = counter.desk()
    url = desk.new_request()
    with_attachment(desk, url)
    response = desk.post(url, "download", **citizen(unit=str(counter.units["P6"])))
    assert list(errors_of(response)) == ["unit"]


def test_old_eleven_digit_numbers_and_spacing_are_normalised(counter: Counter) -> None:
    desk = counter.desk()
    url = desk.new_request()
    with_attachment(desk, url)
    response = desk.post(url, "save", **citizen(phone="+84 169.123.4567", email="Huong@Mail.VN"))
    assert response.status_code == 200, errors_of(response)
    with counter.session() as session:
        saved = session.exec(select(AccountRequest)).one()
    assert saved.phone == "0391234567"  # 0169 became 039
    assert saved.email == "huong@mail.vn"
    assert saved.full_name == "NGUYỄN THỊ HƯƠNG"


@pytest.mark.parametrize(
    ("name", "data", "accepted"),
    [
        ("CCCD.pdf", pdf_bytes(), True),
        ("anh.pdf", b"\x89PNG\r\n\x1a\n" + b"\0" * 100, False),  # a picture renamed
        ("CCCD.docx", None, True),
        ("lon.pdf", b"%PDF-1.4\n" + b"0" * (5 * 1024 * 1024), False),
        ("rong.pdf", b"", None),  # an empty file input: nothing chosen, the attachment stays missing
    ],
)
def test_the_attachment_is_judged_by_content_and_size(
    counter: Counter, name: str, data: bytes | None, accepted: bool | None
) -> None:
    if data is None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("[Content_Types].xml", "<Types/>")
            archive.writestr("word/document.xml", "<w:document/>")
        data = buffer.getvalue()
    desk = counter.desk()
    url = desk.new_request()
    response = desk.post(url, "download", attachment=(io.BytesIO(data), name), **citizen())
    if accepted:
        assert response.status_code == 200 and response.mimetype == "application/pdf"
    else:
        errors = errors_of(response)
        assert response.status_code == 422 and "attachment" in errors
        if data:
            assert "5MB" in errors["attachment"] or "doc, docx hoặc pdf" in errors["attachment"]


# ---------------------------------------------------------------- look-up and request form


def test_lookup_says_when_the_number_already_has_an_account(counter: Counter) -> None:
    desk = counter.desk()
    url = desk.new_request()
    fresh = desk.post(url, "lookup", **citizen())
    assert fresh.status_code == 200 and "chưa có tài khoản" in fresh.get_data(as_text=True)
    create_account_through_the_page(counter, desk, url)
    again = desk.new_request()
    response = desk.post(again, "lookup", **citizen(full_name=""))
    assert response.status_code == 409
    assert "đã có tài khoản" in errors_of(response)["id_number"]
    # and sending a code for it is refused as well
    with_attachment(desk, again)
    refused = desk.post(again, "send_otp", **citizen())
    assert "đã có tài khoản" in refused.get_data(as_text=True)
    assert len(counter.codes()) == 1


def test_the_request_form_carries_the_citizen_and_the_officer(counter: Counter) -> None:
    desk = counter.desk()
    url = desk.new_request()
    with_attachment(desk, url)
    response = desk.post(url, "download", **citizen())
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    text = pymupdf.open(stream=response.data, filetype="pdf")[0].get_text()
    for expected in ("NGUYỄN THỊ HƯƠNG", ID_NUMBER, "05/03/1990", "0905123457", "Nguyễn Thị Mai", "Phường 5"):
        assert expected in text


# ---------------------------------------------------------------- OTP


def otp_ready(counter: Counter, desk: Desk | None = None) -> tuple[Desk, str]:
    desk = desk or counter.desk()
    url = desk.new_request()
    with_attachment(desk, url)
    response = desk.post(url, "send_otp", **citizen())
    assert response.status_code == 200, response.get_data(as_text=True)
    return desk, url


def test_the_code_goes_to_the_citizens_phone_and_is_kept_only_hashed(counter: Counter) -> None:
    otp_ready(counter)
    [message] = read_outbox(counter.outbox)
    assert message["to"] == "0905123457"
    code = counter.codes()[0]
    with counter.session() as session:
        [challenge] = session.exec(select(OtpChallenge)).all()
        events = session.exec(select(AuditEvent)).all()
    assert code not in challenge.code_hash and len(challenge.code_hash) == 64
    assert (challenge.expires_at - challenge.created_at) == timedelta(minutes=2)
    assert all(code not in event.detail and ID_NUMBER not in event.detail for event in events)


def test_sending_again_waits_for_the_cooldown_and_voids_the_older_code(counter: Counter) -> None:
    desk, url = otp_ready(counter)
    counter.clock.advance(30)
    too_soon = desk.post(url, "send_otp", **citizen())
    assert too_soon.status_code == 409 and "30 giây" in errors_of(too_soon)["otp"]
    counter.clock.advance(31)
    assert desk.post(url, "send_otp", **citizen()).status_code == 200
    first, second = counter.codes()
    if first != second:
        old = desk.post(url, "create", otp=first, **citizen())
        assert old.status_code == 409 and "không đúng" in errors_of(old)["otp"]
    assert desk.post(url, "create", otp=second, **citizen()).status_code == 302


def test_a_code_expires_after_two_minutes(counter: Counter) -> None:
    desk, url = otp_ready(counter)
    counter.clock.advance(121)
    response = desk.post(url, "create", otp=counter.codes()[0], **citizen())
    assert response.status_code == 409 and "hết hiệu lực" in errors_of(response)["otp"]


def test_five_wrong_entries_void_the_code(counter: Counter) -> None:
    desk, url = otp_ready(counter)
    code = counter.codes()[0]
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for left in (4, 3, 2, 1):
        response = desk.post(url, "create", otp=wrong, **citizen())
        assert f"còn {left} lần" in errors_of(response)["otp"]
    fifth = desk.post(url, "create", otp=wrong, **citizen())
    assert "quá số lần" in errors_of(fifth)["otp"]
    right_too_late = desk.post(url, "create", otp=code, **citizen())
    assert "quá số lần" in errors_of(right_too_late)["otp"]
    with counter.session() as session:
        assert session.exec(select(CitizenAccount)).all() == []


def test_a_phone_gets_at_most_five_codes_a_day(counter: Counter) -> None:
    desk, url = otp_ready(counter)
    for _ in range(4):
        counter.clock.advance(61)
        assert desk.post(url, "send_otp", **citizen()).status_code == 200
    counter.clock.advance(61)
    capped = desk.post(url, "send_otp", **citizen())
    assert capped.status_code == 409 and "ngày mai" in errors_of(capped)["otp"]
    # Another request for the same phone is capped too: the cap is the phone's, not the request's.
    other = desk.new_request()
    with_attachment(desk, other)
    assert "ngày mai" in errors_of(desk.post(other, "send_otp", **citizen()))["otp"]
    counter.clock.advance(24 * 3600)
    assert desk.post(url, "send_otp", **citizen()).status_code == 200
    assert len(counter.codes()) == 6


def test_changing_the_phone_voids_the_code_sent_to_the_old_one(counter: Counter) -> None:
    desk, url = otp_ready(counter)
    response = desk.post(url, "create", otp=counter.codes()[0], **citizen(phone="0912345678"))
    assert response.status_code == 409 and "Chưa gửi mã OTP" in errors_of(response)["otp"]


# ---------------------------------------------------------------- the account


def create_account_through_the_page(counter: Counter, desk: Desk, url: str) -> Any:
    with_attachment(desk, url)
    assert desk.post(url, "send_otp", **citizen()).status_code == 200
    return desk.post(url, "create", otp=counter.codes()[-1], **citizen())


def test_the_account_is_created_and_its_password_sent_and_kept_hashed(counter: Counter) -> None:
    desk = counter.desk()
    url = desk.new_request()
    response = create_account_through_the_page(counter, desk, url)
    assert response.status_code == 302
    listing = desk.client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Tìm thấy 1 kết quả" in listing and "NGUYỄN THỊ HƯƠNG" in listing
    password_sms = read_outbox(counter.outbox)[-1]["text"]
    password = password_sms.rsplit("Mat khau: ", 1)[1]
    with counter.session() as session:
        [account] = session.exec(select(CitizenAccount)).all()
        events = session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()  # type: ignore[arg-type]
    assert account.id_number == ID_NUMBER and account.phone == "0905123457"
    assert password not in account.password_hash and check_password(account.password_hash, password)
    actions = [event.action for event in events]
    for expected in ("request_opened", "otp_sent", "account_created", "password_sent"):
        assert expected in actions
    assert all(password not in event.detail and ID_NUMBER not in event.detail for event in events)
    # The request is closed: the page refuses a second creation.
    again = desk.post(url, "create", otp=counter.codes()[-1], **citizen())
    assert again.status_code == 409


def run_together(*calls: Any) -> list[Any]:
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        results[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_two_officers_creating_the_same_number_at_once_make_one_account(counter: Counter) -> None:
    mai, mai_url = otp_ready(counter, counter.desk("mai"))
    counter.clock.advance(61)  # the second code for the same phone waits out the cool-down
    lan, lan_url = otp_ready(counter, counter.desk("lan"))
    mai_code, lan_code = counter.codes()
    results = run_together(
        lambda: mai.post(mai_url, "create", otp=mai_code, **citizen()),
        lambda: lan.post(lan_url, "create", otp=lan_code, **citizen()),
    )
    statuses = sorted(response.status_code for response in results)
    assert statuses == [302, 409]
    refused = next(response for response in results if response.status_code == 409)
    assert "đã có tài khoản" in refused.get_data(as_text=True)
    with counter.session() as session:
        assert len(session.exec(select(CitizenAccount)).all()) == 1


def test_a_double_click_creates_one_account(counter: Counter) -> None:
    desk, url = otp_ready(counter)
    code = counter.codes()[0]
    second = Desk(counter, counter.app.test_client())
    second.login("mai")
    results = run_together(
        lambda: desk.post(url, "create", otp=code, **citizen()),
        lambda: second.post(url, "create", otp=code, **citizen()),
    )
    assert sorted(response.status_code for response in results) == [302, 409]
    with counter.session() as session:
        assert len(session.exec(select(CitizenAccount)).all()) == 1
    assert sum("Mat khau" in line["text"] for line in read_outbox(counter.outbox)) == 1


def test_cancel_abandons_the_request_and_its_code(counter: Counter) -> None:
    desk, url = otp_ready(counter)
    assert desk.post(url, "cancel", **citizen()).status_code == 302
    response = desk.post(url, "create", otp=counter.codes()[0], **citizen())
    assert response.status_code == 409
    with counter.session() as session:
        assert session.exec(select(AccountRequest)).one().status == "cancelled"
        assert session.exec(select(OtpChallenge)).one().state == "void"
        assert session.exec(select(CitizenAccount)).all() == []


# ---------------------------------------------------------------- units and roles


def test_an_officer_cannot_act_on_another_units_request(counter: Counter) -> None:
    mai = counter.desk("mai")
    url = mai.new_request()
    with_attachment(mai, url)
    hung = counter.desk("hung")  # an officer of Phường 6
    assert hung.client.get(url).status_code == 403
    assert hung.post(url, "send_otp", **citizen()).status_code == 403
    assert hung.client.get(url + "/attachment").status_code == 403
    assert read_outbox(counter.outbox) == []
    administrator = counter.desk("quantri")
    assert administrator.client.get(url).status_code == 200
    lan = counter.desk("lan")  # the same unit may take over
    assert lan.client.get(url).status_code == 200


# ---------------------------------------------------------------- the list and its exports


BORN = date(1990, 1, 1)
START = datetime(2026, 11, 1, tzinfo=UTC)


def fill_accounts(counter: Counter) -> None:
    with counter.session() as session:
        officers = {officer.username: officer for officer in session.exec(select(Officer))}
        people = [
            ("NGUYỄN VĂN AN", "001090000001", "0905000001", "mai", datetime(2026, 11, 1, 2, tzinfo=UTC)),
            ("TRẦN THỊ BÌNH", "001190000002", "0912000002", "mai", datetime(2026, 11, 10, 2, tzinfo=UTC)),
            ("LÊ VĂN CƯỜNG", "001090000003", "0987000003", "hung", datetime(2026, 11, 20, 2, tzinfo=UTC)),
            # 23:30 on the 20th in Vietnam is still the 20th there, though the 20th has ended in UTC... and
            # 17:30 UTC on the 20th is 00:30 on the 21st in Vietnam.
            ("PHẠM THỊ DUNG", "001190000004", "0333000004", "hung", datetime(2026, 11, 20, 17, 30, tzinfo=UTC)),
        ]
        for full_name, id_number, phone, username, created_at in people:
            officer = officers[username]
            session.add(CitizenAccount(id_number=id_number, full_name=full_name, date_of_birth=BORN,
                                       phone=phone, unit_id=officer.unit_id, officer_id=officer.id or 0,
                                       password_hash="x", created_at=created_at))  # fmt: skip
        session.commit()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, 4),
        ({"full_name": "văn"}, 2),
        ({"phone": "0912"}, 1),
        ({"phone": "+84 912"}, 1),
        ({"id_number": "0003"}, 1),
        ({"officer": "Hùng"}, 2),
        ({"unit": "P5"}, 2),
        ({"date_from": "10/11/2026", "date_to": "20/11/2026"}, 2),
        ({"date_from": "21/11/2026"}, 1),
    ],
)
def test_the_list_filters(counter: Counter, query: dict[str, str], expected: int) -> None:
    fill_accounts(counter)
    if "unit" in query:
        query = {**query, "unit": str(counter.units[query["unit"]])}
    page = counter.desk().client.get("/accounts/", query_string=query).get_data(as_text=True)
    assert f"Tìm thấy {expected} kết quả" in page
    assert page.count("<tr>") - 1 == expected  # the header row, then one per account


def test_a_bad_date_in_the_filter_is_named(counter: Counter) -> None:
    page = counter.desk().client.get("/accounts/", query_string={"date_from": "32/13/2026"}).get_data(as_text=True)
    assert "dd/mm/yyyy" in page and "Tìm thấy 0 kết quả" in page


def test_the_list_is_paged(counter: Counter) -> None:
    with counter.session() as session:
        officer = session.exec(select(Officer).where(Officer.username == "mai")).one()
        for index in range(45):
            session.add(CitizenAccount(id_number=f"0010900{index:05d}", full_name=f"CÔNG DÂN {index:02d}",
                                       date_of_birth=BORN, phone="0905000001",
                                       unit_id=officer.unit_id, officer_id=officer.id or 0, password_hash="x",
                                       created_at=START + timedelta(minutes=index)))  # fmt: skip
        session.commit()
    client = counter.desk().client
    first = client.get("/accounts/").get_data(as_text=True)
    third = client.get("/accounts/", query_string={"page": "3"}).get_data(as_text=True)
    assert "Tìm thấy 45 kết quả" in first and "Trang 1/3" in first
    assert "CÔNG DÂN 44" in first and "CÔNG DÂN 00" not in first  # newest first
    assert third.count("<tr>") - 1 == 5 and "CÔNG DÂN 00" in third


def test_exports_hold_the_filtered_list(counter: Counter) -> None:
    from openpyxl import load_workbook

    fill_accounts(counter)
    client = counter.desk().client
    csv_text = client.get("/accounts/export.csv", query_string={"full_name": "văn"}).get_data(as_text=True)
    lines = csv_text.lstrip("\ufeff").strip().splitlines()
    assert lines[0].startswith("STT,Tên công dân,CMND/CCCD")
    assert len(lines) == 3 and {"NGUYỄN VĂN AN", "LÊ VĂN CƯỜNG"} <= {line.split(",")[1] for line in lines[1:]}
    response = client.get("/accounts/export.xlsx")
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][1] == "Tên công dân" and len(rows) == 5
    assert {row[2] for row in rows[1:]} == {"001090000001", "001190000002", "001090000003", "001190000004"}


# ---------------------------------------------------------------- scans


def test_scans_prefill_the_form_and_become_the_attachment(counter: Counter, sample_cases: list[Any]) -> None:
    case = next(case for case in sample_cases if len(case["files"]) == 2)
    desk = counter.desk()
    url = desk.new_request()
    files = [(io.BytesIO((SAMPLES / f["file"]).read_bytes()), f["file"]) for f in case["files"]]
    response = desk.client.post(url + "/scans", data={"scans": files}, headers={"X-CSRFToken": desk.token},
                                content_type="multipart/form-data")  # fmt: skip
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    truth = case["fields"]
    assert body["fields"]["id_number"]["value"] == truth["id_number"]
    assert body["fields"]["full_name"]["value"] == truth["full_name"]
    born = truth["date_of_birth"]
    assert body["fields"]["date_of_birth"]["value"] == f"{born[8:10]}/{born[5:7]}/{born[:4]}"
    crop = desk.client.get(body["fields"]["full_name"]["crop_url"])
    assert crop.status_code == 200 and crop.data[:2] == b"\xff\xd8"
    attachment = desk.client.get(body["attachment"]["url"])
    assert attachment.data.startswith(b"%PDF") and len(attachment.data) < 5 * 1024 * 1024
    page = desk.client.get(url).get_data(as_text=True)  # a reload keeps the prefill
    assert f'value="{truth["id_number"]}"' in page and "File đính kèm" in page
    storage = Path(counter.app.extensions["motcua"].storage)
    stored = [path for path in storage.rglob("*") if path.is_file()]
    assert stored and all(path.stat().st_mode & 0o077 == 0 for path in stored)


def test_a_file_that_is_not_a_scan_is_refused_in_words_and_nothing_is_lost(counter: Counter) -> None:
    desk = counter.desk()
    url = desk.new_request()
    assert desk.post(url, "lookup", **citizen()).status_code == 200
    response = desk.client.post(url + "/scans", data={"scans": [(io.BytesIO(b"hello"), "ghi-chu.txt")]},
                                headers={"X-CSRFToken": desk.token}, content_type="multipart/form-data")  # fmt: skip
    assert response.status_code == 422
    assert "ghi-chu.txt" in response.get_json()["error"] and "không phải ảnh quét" in response.get_json()["error"]
    page = desk.client.get(url).get_data(as_text=True)
    assert f'value="{ID_NUMBER}"' in page


# ---------------------------------------------------------------- [Quét]: the station's flatbed, through SANE
#
# SANE's own devices stand in for the flatbed: `test` (a black page, which holds no card) made as slow as a real
# flatbed or made to fail through its configuration file (SANE_CONFIG_DIR), and `pnm`, which "scans" a picture:
# a sample page with a card on it.


def real_scanimage() -> str:
    """The scanimage program; the test is skipped without it (failed on CI, where it must run)."""
    import os
    import shutil

    found = shutil.which("scanimage")
    if found is None:
        reason = "scanimage is missing: install sane-utils (the Makefile does) to test the scanner"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    return found


def sane_test_device(folder: Path, monkeypatch: pytest.MonkeyPatch, **options: str) -> None:
    """SANE's `test` device with `options` (test.conf's names, dashes as underscores) for this test's scans."""
    real_scanimage()
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"{name.replace('_', '-')} {value}" for name, value in options.items()]
    (folder / "test.conf").write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("SANE_CONFIG_DIR", str(folder))


# Read in 64 KB pieces, 50 ms apart: the test device's page (3.3 MB at 300 dpi) then takes about 2.6 s.
SLOW = {"read_limit": "true", "read_limit_size": "65536", "read_delay": "true", "read_delay_duration": "50000"}


def card_on_the_glass(folder: Path, monkeypatch: pytest.MonkeyPatch, card: Path, delay: float = 1.0) -> str:
    """A flatbed with `card` (a sample page) on its glass: SANE's `pnm` device scans the picture. It has no `--mode`
    (every flatbed has), so a `scanimage` first in PATH drops that option, adds the picture, waits `delay` seconds
    as a flatbed does, and runs the real program. Returns the device's name."""
    import os
    import sys

    import cv2

    real = real_scanimage()
    folder.mkdir(parents=True, exist_ok=True)
    picture = folder / "card.ppm"
    assert cv2.imwrite(str(picture), cv2.imread(str(card)))
    program = folder / "scanimage"
    program.write_text(
        f"#!{sys.executable}\n"
        "import os, sys, time\n"
        "args = sys.argv[1:]\n"
        "if '--version' not in args:\n"
        f"    time.sleep({delay})\n"
        "    at = args.index('--mode')\n"
        "    del args[at : at + 2]\n"
        f"    args.append('--filename={picture}')\n"
        f"os.execv({real!r}, [{real!r}, *args])\n"
    )
    program.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")
    return "pnm:0"


def scan_ended(desk: Desk, status_url: str, seconds: float = 90) -> tuple[dict[str, Any], list[str]]:
    """The [Quét] scan's last state, polled as the page does, and every state seen on the way."""
    import time

    deadline = time.monotonic() + seconds
    seen: list[str] = []
    while True:
        response = desk.client.get(status_url)
        assert response.status_code == 200, response.get_data(as_text=True)
        state = response.get_json()
        if not seen or seen[-1] != state["status"]:
            seen.append(state["status"])
        if state["status"] in ("done", "failed"):
            return state, seen
        if time.monotonic() > deadline:
            import sys
            import threading
            import traceback

            # Where the scan's thread is stuck, so that a failure explains itself.
            frames = sys._current_frames()
            where = {
                thread.name: "".join(traceback.format_stack(frames[thread.ident]))
                for thread in threading.enumerate()
                if thread.name.startswith("motcua-scan") and thread.ident in frames
            }
            pytest.fail(f"the scan did not end in {seconds} s: {seen}; its thread: {where}")
        time.sleep(0.05)


def test_quet_scans_in_the_background_one_scan_at_a_time(
    counter: Counter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from forms.models import StationScan

    sane_test_device(tmp_path / "sane", monkeypatch, **SLOW)
    desk = counter.desk()
    url = desk.new_request()
    assert 'id="scan-now"' not in desk.client.get(url).get_data(as_text=True)
    unset = desk.client.post(url + "/scan", headers={"X-CSRFToken": desk.token})
    assert unset.status_code == 400 and "MOTCUA_SCANNER" in unset.get_json()["error"]

    counter.app.config["SCANNER"] = "test"
    assert 'id="scan-now"' in desk.client.get(url).get_data(as_text=True)
    pressed = time.monotonic()
    response = desk.client.post(url + "/scan", headers={"X-CSRFToken": desk.token})
    answered = time.monotonic() - pressed
    assert response.status_code == 202, response.get_data(as_text=True)
    assert answered < 2.0, f"the press was answered after {answered:.1f} s: it waited for the scan"
    started = response.get_json()
    status_url = started["status_url"]
    assert response.headers["Location"].endswith(status_url) and started["status"] == "scanning"
    assert desk.client.get(status_url).get_json()["status"] == "scanning"  # the device takes 2.6 s

    # While it scans, no second scan at this station: not from this page, not from a colleague's.
    again = desk.client.post(url + "/scan", headers={"X-CSRFToken": desk.token})
    assert again.status_code == 409 and "Máy quét đang quét" in again.get_json()["error"]
    assert again.get_json()["status_url"] == status_url  # this request's own scan: the page may follow it
    colleague = counter.desk("lan")
    other_url = colleague.new_request()
    refused = colleague.client.post(other_url + "/scan", headers={"X-CSRFToken": colleague.token})
    assert refused.status_code == 409 and "Chờ quét xong rồi bấm [Quét] lại" in refused.get_json()["error"]
    assert refused.get_json()["status_url"] is None
    assert colleague.client.get(other_url + "/scan/" + started["scan_job"]).status_code == 404  # not theirs
    stranger = counter.desk("hung")  # another unit: not even the request
    assert stranger.client.get(status_url).status_code == 403

    # The test device's black page holds no card: recorded as a failed station scan, with the reason.
    state, seen = scan_ended(desk, status_url)
    assert seen[0] == "scanning" and state["status"] == "failed", seen
    assert "Không tìm thấy thẻ" in state["error"] and state["station_scan"]
    (shown,) = desk.client.get("/accounts/station/latest?after=0").get_json()["scans"]
    assert shown["id"] == state["station_scan"] and shown["status"] == "failed"
    assert shown["name"].startswith("quet-") and shown["name"].endswith(".tif")
    with counter.session() as session:
        row = session.exec(select(StationScan)).one()
        assert row.source == "scanner"
        assert row.request_id == int(url.rsplit("/", 1)[1])  # reserved for the request whose page pressed [Quét]

    # Ended: the station is free again.
    next_scan = colleague.client.post(other_url + "/scan", headers={"X-CSRFToken": colleague.token})
    assert next_scan.status_code == 202, next_scan.get_data(as_text=True)
    assert scan_ended(colleague, next_scan.get_json()["status_url"])[0]["status"] == "failed"


def test_quet_tells_the_scanners_failures_in_the_officers_words(
    counter: Counter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from forms.models import StationScan

    # A page of 5 × 5 mm: all of it fits in the pipe from the device's reader thread, which then cannot be caught
    # writing when scanimage cancels on the error (the test backend deadlocks there, once in a few hundred scans).
    cover_open = {"read_status_code": '"SANE_STATUS_COVER_OPEN"', "br_x": "5.0", "br_y": "5.0"}
    sane_test_device(tmp_path / "sane", monkeypatch, **cover_open)
    desk = counter.desk()
    url = desk.new_request()
    counter.app.config["SCANNER"] = "test"
    response = desk.client.post(url + "/scan", headers={"X-CSRFToken": desk.token})
    assert response.status_code == 202
    state, _ = scan_ended(desk, response.get_json()["status_url"])
    assert (
        state["status"] == "failed" and state["error"].startswith("Nắp máy quét đang mở") and not state["station_scan"]
    )

    counter.app.config["SCANNER"] = "khong-co-may-nay"
    response = desk.client.post(url + "/scan", headers={"X-CSRFToken": desk.token})
    state, _ = scan_ended(desk, response.get_json()["status_url"])
    assert state["status"] == "failed" and "Không mở được máy quét khong-co-may-nay" in state["error"]
    with counter.session() as session:
        assert not session.exec(select(StationScan)).all()  # no page, nothing recorded
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "scanner_failed")).all()
        mai = session.exec(select(Officer).where(Officer.username == "mai")).one()
        assert [event.officer_id for event in events] == [mai.id, mai.id]
        assert {event.detail for event in events} == {"ScannerError"}


def test_quet_with_a_card_on_the_glass_fills_the_form(
    counter: Counter, sample_cases: list[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # c007: a Căn cước 2024, both sides on one page at 300 dpi, as the flatbed gives it.
    case = next(case for case in sample_cases if case["case"] == "c007")
    counter.app.config["SCANNER"] = card_on_the_glass(tmp_path / "flatbed", monkeypatch, SAMPLES / "img0160.jpeg")
    desk = counter.desk()
    url = desk.new_request()
    response = desk.client.post(url + "/scan", headers={"X-CSRFToken": desk.token})
    assert response.status_code == 202
    state, seen = scan_ended(desk, response.get_json()["status_url"])
    assert state["status"] == "done" and seen[0] == "scanning", (state, seen)
    taken = desk.client.post(url + "/station-scans", data={"scan_id": state["station_scan"]},
                             headers={"X-CSRFToken": desk.token})  # fmt: skip
    assert taken.status_code == 200, taken.get_data(as_text=True)
    body = taken.get_json()
    assert body["station_scan"] == state["station_scan"] and body["document_type"] == "cancuoc2024"
    assert body["fields"]["id_number"]["value"] == case["fields"]["id_number"]
    assert body["fields"]["full_name"]["value"] == case["fields"]["full_name"]
    page = desk.client.get(url).get_data(as_text=True)
    assert f'value="{case["fields"]["id_number"]}"' in page and "File đính kèm" in page


# ---------------------------------------------------------------- the SMS gateway failing


def test_a_gateway_failure_is_shown_and_the_request_kept(counter: Counter, tmp_path: Path) -> None:
    import socket

    from forms.sms import HttpGateway

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    counter.app.extensions["motcua"].sms = HttpGateway(f"http://127.0.0.1:{port}/sms", "token", retries=0)
    desk = counter.desk()
    url = desk.new_request()
    with_attachment(desk, url)
    response = desk.post(url, "send_otp", **citizen())
    assert response.status_code == 502 and "Không gửi được tin nhắn" in errors_of(response)["otp"]
    with counter.session() as session:
        request = session.exec(select(AccountRequest)).one()
        assert request.full_name == "NGUYỄN THỊ HƯƠNG"
        assert session.exec(select(OtpChallenge)).one().state == "void"


# ---------------------------------------------------------------- the database


def test_the_migrations_build_exactly_the_models_tables(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    engine = make_engine(database_url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    engine.dispose()
    assert differences == []


def test_reading_is_stored_as_json_on_the_request(counter: Counter) -> None:
    desk = counter.desk()
    url = desk.new_request()
    with counter.session() as session:
        request = session.exec(select(AccountRequest)).one()
        request.reading = json.dumps({"prefill": {"full_name": {"value": "TRẦN MỸ LOAN", "sure": False}}})
        session.add(request)
        session.commit()
    page = desk.client.get(url).get_data(as_text=True)
    assert 'value="TRẦN MỸ LOAN"' in page and "? Kiểm tra" in page


def test_the_newest_scans_of_the_station_folder_are_read(
    counter: Counter, sample_cases: list[Any], tmp_path: Path
) -> None:
    import os
    import shutil
    import time

    folder = tmp_path / "station"
    folder.mkdir()
    counter.app.extensions["motcua"].scan_folder = folder
    desk = counter.desk()
    url = desk.new_request()
    empty = desk.client.post(url + "/station", headers={"X-CSRFToken": desk.token})
    assert empty.status_code == 404 and "chưa có bản quét" in empty.get_json()["error"]
    older, case = sample_cases[0], next(case for case in sample_cases[1:] if len(case["files"]) == 2)
    long_ago = time.time() - 3600
    for entry in older["files"]:  # yesterday's citizen: must not be taken
        shutil.copy(SAMPLES / entry["file"], folder / entry["file"])
        os.utime(folder / entry["file"], (long_ago, long_ago))
    for index, entry in enumerate(case["files"]):
        shutil.copy(SAMPLES / entry["file"], folder / entry["file"])
        os.utime(folder / entry["file"], (time.time() - 20 + index, time.time() - 20 + index))
    (folder / "ghi-chu.txt").write_text("not a scan")
    response = desk.client.post(url + "/station", headers={"X-CSRFToken": desk.token})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["fields"]["id_number"]["value"] == case["fields"]["id_number"]
    assert sorted(path.name for path in folder.iterdir()) == sorted(  # the station's files are left alone
        [entry["file"] for entry in older["files"] + case["files"]] + ["ghi-chu.txt"]
    )
