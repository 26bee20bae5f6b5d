"""The reviewers' queue on a real database: order by doubt, one reviewer per draft, corrections recorded."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from forms.models import AccountRequest, Officer, Unit
from forms.review import Correction, Review, claim_next
from forms.security import hash_password
from forms.storage import store_file
from web.app import create_app

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "scans"
PASSWORD = "mat-khau-thu-nghiem"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def readings(sample_cases: list[Any]) -> list[dict[str, Any]]:
    """Three real citizens' intake (reading, side images, PDF), made once for the module."""
    from intake.counter import intake_citizen

    made = []
    for case in [case for case in sample_cases if len(case["files"]) == 2][:3]:
        files = [(entry["file"], (SAMPLES / entry["file"]).read_bytes()) for entry in case["files"]]
        result = intake_citizen(files)
        made.append({"case": case, "result": result})
    return made


def add_draft(session: Session, storage: Path, made: dict[str, Any], *, confidence: float | None = None) -> int:
    result = made["result"]
    draft = AccountRequest(origin="batch")
    session.add(draft)
    session.flush()
    sides = {}
    for side, jpeg in result.side_jpegs.items():
        sides[side] = store_file(session, storage, jpeg, kind="card", name=f"{side}.jpg", content_type="image/jpeg",
                                 request_id=draft.id).id  # fmt: skip
    pdf = store_file(session, storage, result.pdf, kind="attachment", name="CCCD.pdf",
                     content_type="application/pdf", request_id=draft.id)  # fmt: skip
    card = result.reading.to_json()
    if confidence is not None:
        card["fields"]["full_name"]["confidence"] = confidence
    draft.reading = json.dumps({"document_type": result.reading.document_type, "card": card, "prefill": {},
                                "side_files": sides, "warnings": []}, ensure_ascii=False)  # fmt: skip
    draft.attachment_id = pdf.id
    session.add(draft)
    session.commit()
    return draft.id or 0


@pytest.fixture
def desk(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, readings: list[dict[str, Any]]) -> Any:
    monkeypatch.setenv("MOTCUA_INSTANCE", str(tmp_path / "instance"))
    clock = Clock()
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "k", "CLOCK": clock,
                      "STORAGE": str(tmp_path / "storage"), "SMS_OUTBOX": str(tmp_path / "outbox.jsonl")})  # fmt: skip
    engine = app.extensions["motcua"].engine
    with Session(engine, expire_on_commit=False) as session:
        unit = Unit(code="P5", name="Bộ phận một cửa Phường 5")
        session.add(unit)
        session.flush()
        for username, role in (("an", "reviewer"), ("binh", "reviewer"), ("mai", "officer")):
            session.add(Officer(username=username, full_name=username.title(), phone="0905000111",
                                unit_id=unit.id or 0, role=role, password_hash=hash_password(PASSWORD)))  # fmt: skip
        session.commit()
        drafts = [add_draft(session, tmp_path / "storage", made, confidence=c)
                  for made, c in zip(readings, (0.95, 0.4, 0.7), strict=True)]  # fmt: skip
    app.config["DRAFTS"] = drafts
    app.config["CLOCK_OBJECT"] = clock
    yield app
    engine.dispose()


def login(app: Any, username: str) -> tuple[Any, str]:
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    assert (
        client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token}).status_code == 302
    )
    return client, token


def start(client: Any, token: str) -> Any:
    return client.post("/review/next", data={"csrf_token": token})


def review_id_of(response: Any) -> int:
    return int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])


def test_officers_have_no_access_to_the_queue(desk: Any) -> None:
    client, _token = login(desk, "mai")
    assert client.get("/review/").status_code == 403


def test_the_most_doubtful_draft_comes_first(desk: Any) -> None:
    client, token = login(desk, "an")
    page = client.get("/review/").get_data(as_text=True)
    assert re.search(r'id="pending">3<', page)
    first = start(client, token)
    second_reviewer, second_token = login(desk, "binh")
    second = start(second_reviewer, second_token)
    with Session(desk.extensions["motcua"].engine) as session:
        first_review = session.get(Review, review_id_of(first))
        second_review = session.get(Review, review_id_of(second))
    drafts = desk.config["DRAFTS"]
    assert first_review is not None and second_review is not None
    assert first_review.request_id == drafts[1]  # confidence 0.4
    assert second_review.request_id == drafts[2]  # 0.7: the first is held by the first reviewer


def test_a_held_draft_is_refused_to_a_second_reviewer_until_its_lock_runs_out(desk: Any) -> None:
    an, an_token = login(desk, "an")
    review_id = review_id_of(start(an, an_token))
    binh, _binh_token = login(desk, "binh")
    refused = binh.get(f"/review/{review_id}")
    assert refused.status_code == 409 and "đang do An duyệt" in refused.get_data(as_text=True)
    desk.config["CLOCK_OBJECT"].now += timedelta(minutes=16)
    assert binh.get(f"/review/{review_id}").status_code == 200
    # The first reviewer's save now fails: the draft is no longer theirs.
    lost = an.post(f"/review/{review_id}", data={"csrf_token": an_token, "action": "save", "full_name": "X"},
                   headers={"Accept": "application/json"})  # fmt: skip
    assert lost.status_code == 409


def test_reviewers_asking_at_once_never_get_the_same_draft(desk: Any) -> None:
    engine = desk.extensions["motcua"].engine
    with Session(engine) as session:
        from forms.review import enqueue

        enqueue(session)
        reviewers = session.exec(select(Officer).where(Officer.role == "reviewer")).all()
    got: list[int | None] = [None, None]
    barrier = threading.Barrier(2)

    def ask(index: int) -> None:
        with Session(engine, expire_on_commit=False) as session:
            barrier.wait()
            review = claim_next(session, reviewers[index], now=desk.config["CLOCK_OBJECT"]())
            got[index] = review.id if review else None

    threads = [threading.Thread(target=ask, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert None not in got and got[0] != got[1]


def test_a_correction_is_recorded_and_the_approved_draft_exported(desk: Any) -> None:
    client, token = login(desk, "an")
    review_id = review_id_of(start(client, token))
    page = client.get(f"/review/{review_id}").get_data(as_text=True)
    machine_name = re.search(r'id="full_name" name="full_name" value="([^"]*)"', page).group(1)  # type: ignore[union-attr]
    assert f"/review/{review_id}/crop/full_name" in page
    crop = client.get(f"/review/{review_id}/crop/full_name")
    assert crop.status_code == 200 and crop.data[:2] == b"\xff\xd8"
    saved = client.post(f"/review/{review_id}", data={"csrf_token": token, "action": "save", "full_name": "Lê Thị Hà"},
                        headers={"Accept": "application/json"})  # fmt: skip
    assert saved.get_json() == {"saved": True, "corrections": 1}
    wrong_day = {"csrf_token": token, "action": "save", "date_of_birth": "31/02/1990"}
    bad = client.post(f"/review/{review_id}", data=wrong_day, headers={"Accept": "application/json"})
    assert bad.status_code == 422 and "date_of_birth" in bad.get_json()["errors"]
    approved = client.post(f"/review/{review_id}", data={"csrf_token": token, "action": "approve"})
    assert approved.status_code == 307  # on to the next draft
    with Session(desk.extensions["motcua"].engine) as session:
        [correction] = session.exec(select(Correction)).all()
        review = session.get(Review, review_id)
        reviewer = session.exec(select(Officer).where(Officer.username == "an")).one()
    assert correction.field == "full_name" and correction.corrected_value == "LÊ THỊ HÀ"
    assert correction.original_value == machine_name and correction.original_source in ("qr", "mrz", "ocr")
    assert 0 < correction.original_confidence <= 1 and correction.reviewer_id == reviewer.id
    assert review is not None and review.status == "approved" and review.reviewer_id == reviewer.id
    lines = client.get("/review/export.jsonl").get_data(as_text=True).splitlines()
    assert [json.loads(line)["full_name"] for line in lines] == ["LÊ THỊ HÀ"]
    assert "LÊ THỊ HÀ" in client.get("/review/export.csv").get_data(as_text=True)
    stats = client.get("/review/stats").get_data(as_text=True)
    assert "0.0% (0/1)" in stats  # the name was wrong once in one review
    assert "100.0% (1/1)" in stats and "<svg" in stats
    # Approved, it opens at the counter, prefilled with the corrected name.
    officer, _officer_token = login(desk, "mai")
    with Session(desk.extensions["motcua"].engine) as session:
        request_id = session.get(Review, review_id).request_id  # type: ignore[union-attr]
    counter_page = officer.get(f"/accounts/requests/{request_id}")
    assert counter_page.status_code == 200 and 'value="LÊ THỊ HÀ"' in counter_page.get_data(as_text=True)


def test_rejecting_needs_a_reason_and_skipping_moves_on(desk: Any) -> None:
    client, token = login(desk, "an")
    first = review_id_of(start(client, token))
    no_reason = client.post(f"/review/{first}", data={"csrf_token": token, "action": "reject", "reason": ""})
    assert no_reason.status_code == 302 and no_reason.headers["Location"].endswith(f"/review/{first}")
    skipped = client.post(f"/review/{first}", data={"csrf_token": token, "action": "skip"}, follow_redirects=False)
    assert skipped.status_code == 307
    following = client.post("/review/next", data={"csrf_token": token})
    assert review_id_of(following) != first
    second = review_id_of(following)
    rejected = client.post(f"/review/{second}", data={"csrf_token": token, "action": "reject", "reason": "Ảnh mờ"})
    assert rejected.status_code == 307
    with Session(desk.extensions["motcua"].engine) as session:
        review = session.get(Review, second)
        assert review is not None and review.status == "rejected" and review.reason == "Ảnh mờ"
        assert session.get(Review, first).status == "pending"  # type: ignore[union-attr]


def test_the_readings_warnings_are_shown_in_vietnamese(desk: Any) -> None:
    """The reading writes its warnings in English (the JSON contract); the reviewer and the officer read Vietnamese."""
    english = ["the expiry is not a renewal birthday (25, 40 or 60)", "full_name read from print differs from the MRZ"]
    client, token = login(desk, "an")
    review_id = review_id_of(start(client, token))
    with Session(desk.extensions["motcua"].engine) as session:
        draft = session.get(AccountRequest, session.get(Review, review_id).request_id)  # type: ignore[union-attr]
        assert draft is not None
        draft.reading = json.dumps({**json.loads(draft.reading or "{}"), "warnings": english}, ensure_ascii=False)
        session.add(draft)
        session.commit()
        request_id = draft.id
    page = client.get(f"/review/{review_id}").get_data(as_text=True)
    assert "Ngày hết hạn không rơi vào sinh nhật tuổi 25, 40 hay 60" in page
    assert "Họ và tên đọc từ chữ in khác với vùng MRZ" in page
    assert not [warning for warning in english if warning in page]
    client.post(f"/review/{review_id}", data={"csrf_token": token, "action": "approve"})
    officer, _officer_token = login(desk, "mai")
    counter_page = officer.get(f"/accounts/requests/{request_id}").get_data(as_text=True)
    assert "Ngày hết hạn không rơi vào sinh nhật tuổi 25, 40 hay 60" in counter_page
