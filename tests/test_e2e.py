"""End to end in headless Chromium: an officer takes one citizen from scans to a created account, by mouse and keys."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from e2e_server import LiveApp, browser_page, chromium, live_server

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples" / "scans"
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
# A loaded 2-core machine: page loads and clicks get 20 s, the card's reading (about 1 s warm) gets 45 s.
STEP_MS = 20_000
READING_MS = 45_000

# c001: a chip CCCD, one side per file, read right by `motcua read SCAN0140.JPG SCAN0143.JPG`.
CASE = "c001"
# c023's number, for the keyboard test: a valid CCCD number that no test creates an account for.
OTHER_NUMBER = "045207769145"
UNIT_NAME = "Bộ phận một cửa Phường 5"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium(STEP_MS) as launched:
        yield launched


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveApp]:
    with live_server(tmp_path) as running:
        yield running


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    with browser_page(browser, STEP_MS, accept_downloads=True) as opened:
        yield opened


@pytest.fixture(scope="module")
def case() -> dict[str, Any]:
    from intake.synth.measure import load_truth

    found = next(c for c in load_truth(SAMPLES) if c["case"] == CASE)
    assert len(found["files"]) == 2, "the e2e case must have one file per side"
    return found


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@contextmanager
def shot_on_failure(page: Any, name: str) -> Iterator[None]:
    try:
        yield
    except BaseException:
        with suppress(Exception):  # the page may be gone; the original error is what matters
            shot(page, f"failed-{name}")
        raise


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def log_in(page: Any, live: LiveApp) -> None:
    page.fill("input[name=username]", live.username)
    page.fill("input[name=password]", live.password)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(re.compile(r"/accounts/$"))


def new_request(page: Any) -> None:
    page.get_by_role("button", name="Thêm mới").click()
    page.wait_for_url(re.compile(r"/accounts/requests/\d+$"))


def wait_for_reading(page: Any) -> str:
    """The scan status once the page's script has the server's answer (success or refusal)."""
    page.wait_for_function(
        """() => {
            const status = document.getElementById("scan-status");
            return status.classList.contains("error") || status.textContent.startsWith("Đã đọc thẻ");
        }""",
        timeout=READING_MS,
    )
    status = page.locator("#scan-status")
    text: str = status.inner_text()
    assert "error" not in (status.get_attribute("class") or ""), f"the scans were refused: {text}"
    return text


def test_counter_flow_from_scans_to_account(page: Any, live: LiveApp, case: dict[str, Any]) -> None:
    import pymupdf
    from playwright.sync_api import expect

    from forms.sms import read_outbox

    truth = case["fields"]
    number, name = truth["id_number"], truth["full_name"]
    year, month, day = truth["date_of_birth"].split("-")
    born = f"{day}/{month}/{year}"
    scans = [str(SAMPLES / entry["file"]) for entry in case["files"]]

    with shot_on_failure(page, "counter-flow"):
        page.goto(f"{live.url}/login")
        expect(page.get_by_role("heading", name="Đăng nhập")).to_be_visible()
        shot(page, "01-login")
        log_in(page, live)
        expect(page.locator("#total")).to_have_text("Tìm thấy 0 kết quả")
        shot(page, "02-list")

        new_request(page)
        expect(page.locator("#id_number")).to_have_value("")
        shot(page, "03-empty-form")

        # Step 1: no account may exist for the number yet.
        page.fill("#id_number", number)
        page.click("#lookup")
        expect(page.locator("#notice")).to_contain_text(f"Số CMND/CCCD {number} chưa có tài khoản")

        # The scans, chosen in the `scans` input, are uploaded by the page's script and prefill the form.
        page.set_input_files("#scans", scans)
        status = wait_for_reading(page)
        assert case["document_type"] in status
        assert page.input_value("#id_number") == number
        assert nfc(page.input_value("#full_name")) == nfc(name)
        assert page.input_value("#date_of_birth") == born
        expect(page.locator("#attachment-current")).to_contain_text("File đính kèm")
        # Each prefilled field shows the part of the card it was read from.
        expect(page.locator(".machine img.crop")).to_have_count(3)
        page.wait_for_function(
            "() => Array.from(document.querySelectorAll('.machine img.crop'))"
            ".every((img) => img.complete && img.naturalWidth > 0)"
        )
        shot(page, "04-prefilled")

        page.fill("#phone", "0905 123 457")
        page.select_option("#unit", label=UNIT_NAME)

        # Step 2: the request form for the citizen to check, then the OTP to the citizen's phone.
        with page.expect_download(timeout=STEP_MS) as download_info:
            page.click("#download")
        download = download_info.value
        assert download.suggested_filename.endswith(".pdf")
        with pymupdf.open(download.path()) as pdf:
            text = nfc("\n".join(page_.get_text() for page_ in pdf))
        assert nfc(name) in text, f"{name} is not in the request form's text"

        page.click("#send-otp")
        expect(page.locator("#notice")).to_contain_text("Đã gửi mã OTP")
        shot(page, "05-otp-sent")
        messages = read_outbox(live.outbox)
        assert len(messages) == 1
        assert messages[-1]["to"].endswith("905123457")
        code = re.search(r"\b\d{6}\b", messages[-1]["text"])
        assert code, "no 6-digit code in the SMS"

        # Step 3: the code creates the account; the list shows it.
        page.fill("#otp", code.group())
        page.click("#create")
        page.wait_for_url(re.compile(r"/accounts/\?"))
        expect(page.get_by_role("status").first).to_contain_text("Đã tạo tài khoản")
        assert len(read_outbox(live.outbox)) == 2, "the password SMS was not sent"

        page.fill("input[name=id_number]", number)
        page.get_by_role("button", name="Tìm kiếm").click()
        rows = page.locator("table.list tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text(name)
        expect(rows.first).to_contain_text(number)
        expect(page.locator("#total")).to_have_text("Tìm thấy 1 kết quả")
        shot(page, "06-list-new-account")

        # The same number again: the procedure stops at step 1.
        new_request(page)
        page.fill("#id_number", number)
        page.click("#lookup")
        expect(page.locator("#error-id_number")).to_contain_text("đã có tài khoản")
        shot(page, "07-refusal")


def test_keyboard_enter_in_number_looks_it_up(page: Any, live: LiveApp) -> None:
    from playwright.sync_api import expect

    with shot_on_failure(page, "keyboard"):
        page.goto(f"{live.url}/login")
        expect(page.locator("input[name=username]")).to_be_focused()
        page.keyboard.type(live.username)
        page.keyboard.press("Tab")
        page.keyboard.type(live.password)
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"/accounts/$"))

        new_request(page)
        number = page.locator("#id_number")
        expect(number).to_be_focused()
        page.keyboard.type(OTHER_NUMBER)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        expect(page.locator("#notice")).to_contain_text(f"Số CMND/CCCD {OTHER_NUMBER} chưa có tài khoản")
        expect(number).to_have_value(OTHER_NUMBER)

        # Elsewhere Enter moves to the next field instead of submitting the form.
        page.focus("#full_name")
        page.keyboard.press("Enter")
        expect(page.locator("#date_of_birth")).to_be_focused()
        expect(page.locator("#notice")).to_contain_text("chưa có tài khoản")
        shot(page, "08-keyboard-lookup")


def test_reviewer_corrects_and_approves_by_keyboard(page: Any, live: LiveApp, case: dict[str, Any]) -> None:
    """Duyệt hồ sơ: Enter starts, Tab to the name, type the correction, Tab saves it, Enter approves."""
    import json

    from sqlmodel import Session, select

    from forms.models import AccountRequest, Officer
    from forms.review import Correction, Review
    from forms.security import hash_password
    from forms.storage import store_file
    from intake.counter import intake_citizen

    services = live.app.extensions["motcua"]
    result = intake_citizen([(entry["file"], (SAMPLES / entry["file"]).read_bytes()) for entry in case["files"]])
    with Session(services.engine, expire_on_commit=False) as session:
        officer = session.exec(select(Officer)).first()
        assert officer is not None
        session.add(Officer(username="duyet", full_name="Người Duyệt", phone="0905000222", unit_id=officer.unit_id,
                            role="reviewer", password_hash=hash_password("mat-khau-duyet")))  # fmt: skip
        draft = AccountRequest(origin="batch")
        session.add(draft)
        session.flush()
        sides = {side: store_file(session, services.storage, jpeg, kind="card", name=f"{side}.jpg",
                                  content_type="image/jpeg", request_id=draft.id).id
                 for side, jpeg in result.side_jpegs.items()}  # fmt: skip
        stored = {"document_type": result.reading.document_type, "card": result.reading.to_json(), "prefill": {},
                  "side_files": sides, "warnings": []}  # fmt: skip
        draft.reading = json.dumps(stored, ensure_ascii=False)
        session.add(draft)
        session.commit()
    with shot_on_failure(page, "review"):
        page.goto(live.url + "/login")
        page.wait_for_function("() => document.activeElement && document.activeElement.name === 'username'")
        page.keyboard.type("duyet")
        page.keyboard.press("Tab")
        page.keyboard.type("mat-khau-duyet")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"/accounts/$"))
        page.get_by_role("link", name="Duyệt hồ sơ").click()
        page.wait_for_url(re.compile(r"/review/$"))
        shot(page, "09-review-queue")
        page.keyboard.press("Enter")  # [Bắt đầu duyệt] has the focus
        page.wait_for_url(re.compile(r"/review/\d+$"))
        page.wait_for_function("() => [...document.querySelectorAll('img.crop')].every(i => i.complete)")
        shot(page, "10-review-draft")
        assert page.evaluate("document.activeElement.id") == "id_number"
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "full_name"
        page.keyboard.press("Control+A")
        page.keyboard.type("Lê Thị Hà")
        page.keyboard.press("Tab")
        page.wait_for_function("() => document.getElementById('save-status').textContent === 'Đã lưu.'")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"/review/$"))
        assert "Không còn hồ sơ nào chờ duyệt." in page.content()
    with Session(services.engine) as session:
        review = session.exec(select(Review)).one()
        [correction] = session.exec(select(Correction)).all()
    assert review.status == "approved"
    assert correction.field == "full_name" and correction.corrected_value == "LÊ THỊ HÀ"
    assert correction.original_value == case["fields"]["full_name"]
