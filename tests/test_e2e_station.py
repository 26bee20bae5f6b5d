"""In headless Chromium: scans saved into the station's folder, or made by [Quét], fill an open counter page without
a reload."""

from __future__ import annotations

import json
import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from e2e_server import LiveApp, browser_page, chromium, live_server
from sqlmodel import Session, select

from forms.models import AccountRequest, StationScan

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples" / "scans"
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
STEP_MS = 20_000
# Settling (0.5 s here), the reading (about 1 s warm, more on a loaded machine) and the page's 2 s poll.
ARRIVAL_MS = 45_000
# c001: a chip CCCD, front (SCAN0140) and back (SCAN0143) in two files, as a flatbed station saves them.
FRONT, BACK = "SCAN0140.JPG", "SCAN0143.JPG"


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
    with browser_page(browser, STEP_MS) as opened:
        yield opened


@contextmanager
def watching(live: LiveApp, folder: Path) -> Iterator[None]:
    """`motcua watch FOLDER` for the live application, in a thread: its database and storage folder."""
    from intake.watch import FolderWatcher, Station

    services = live.app.extensions["motcua"]
    watcher = FolderWatcher(folder, Station(services.engine, services.storage, name="quay-1"), settle=0.5, interval=0.2)
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,), name="watch", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


def save_scan(folder: Path, name: str) -> None:
    """As scanning software does: written under a temporary name, then renamed."""
    shutil.copy(SAMPLES / name, folder / f"{name}.part")
    (folder / f"{name}.part").rename(folder / name)


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _open_a_new_request(page: Any, live: Any) -> None:
    """Log in as the counter's officer and open [Thêm mới]; the page is marked so that a reload would show."""
    page.goto(f"{live.url}/login")
    page.fill("input[name=username]", live.username)
    page.fill("input[name=password]", live.password)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(re.compile(r"/accounts/$"))
    page.get_by_role("button", name="Thêm mới").click()
    page.wait_for_url(re.compile(r"/accounts/requests/\d+$"))
    page.evaluate("() => { window.stillTheSamePage = true; }")


def _one_request_with_both_sides(session: Session) -> AccountRequest:
    """The one request the page filled, with the card images of both sides stored beside its reading."""
    request = session.exec(select(AccountRequest)).one()
    assert sorted(json.loads(request.reading or "{}")["side_files"]) == ["back", "front"]
    return request


def test_scans_saved_into_the_station_folder_fill_the_open_counter_page(
    page: Any, live: LiveApp, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    cases = json.loads((SAMPLES / "truth.json").read_text(encoding="utf-8"))["cases"]
    truth = next(case for case in cases if [entry["file"] for entry in case["files"]] == [FRONT, BACK])["fields"]
    folder = tmp_path / "station"
    folder.mkdir()
    try:
        with watching(live, folder):
            _open_a_new_request(page, live)
            expect(page.locator("#id_number")).to_have_value("")

            # The front: the request has no scans yet, so it is taken at once.
            save_scan(folder, FRONT)
            expect(page.locator("#id_number")).to_have_value(truth["id_number"], timeout=ARRIVAL_MS)
            front = page.locator("#station-list li", has_text=FRONT)
            expect(front).to_contain_text("mặt trước")
            expect(front).to_contain_text("Đang dùng")
            expect(page.locator("#attachment-current")).to_contain_text("CCCD.pdf")

            # The back completes the card this page took: taken too, and the attachment now holds both sides.
            save_scan(folder, BACK)
            back = page.locator("#station-list li", has_text=BACK)
            expect(back).to_contain_text("đủ hai mặt", timeout=ARRIVAL_MS)
            expect(back).to_contain_text("Đang dùng", timeout=ARRIVAL_MS)
            expect(page.locator("#scan-status")).to_contain_text("Đã đọc thẻ")
            expect(page.locator("#full_name")).to_have_value(truth["full_name"])
            assert page.evaluate("() => window.stillTheSamePage === true")  # no reload happened
            shot(page, "station-01-front-and-back")
    except BaseException:
        with suppress(Exception):
            shot(page, "failed-station")
        raise

    assert sorted(path.name for path in (folder / "done").iterdir()) == [FRONT, BACK]
    with Session(live.app.extensions["motcua"].engine) as session:
        _one_request_with_both_sides(session)


def test_quet_shows_the_wait_then_fills_the_form(
    page: Any, live: LiveApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """[Quét] with a card on the glass (SANE's pnm device, 3 s like a flatbed): the page says it is scanning at once,
    stays usable meanwhile, and fills itself when the scan is read."""
    from playwright.sync_api import expect
    from test_web import card_on_the_glass

    cases = json.loads((SAMPLES / "truth.json").read_text(encoding="utf-8"))["cases"]
    truth = next(case for case in cases if case["case"] == "c007")["fields"]  # both sides on one 300 dpi page
    live.app.config["SCANNER"] = card_on_the_glass(tmp_path / "flatbed", monkeypatch, SAMPLES / "img0160.jpeg", 3.0)
    try:
        _open_a_new_request(page, live)

        page.get_by_role("button", name="Quét", exact=True).click()
        expect(page.locator("#scan-status")).to_contain_text("Đang quét")
        expect(page.locator("#scan-now")).to_be_disabled()
        page.fill("#phone", "0905 123 457")  # the officer goes on while the flatbed works
        shot(page, "station-02-quet-waiting")

        expect(page.locator("#id_number")).to_have_value(truth["id_number"], timeout=ARRIVAL_MS)
        expect(page.locator("#full_name")).to_have_value(truth["full_name"])
        expect(page.locator("#scan-status")).to_contain_text("Đã đọc thẻ")
        expect(page.locator("#attachment-current")).to_contain_text("CCCD.pdf")
        expect(page.locator("#station-list li", has_text="quet-")).to_contain_text("Đang dùng")
        expect(page.locator("#scan-now")).to_be_enabled()
        expect(page.locator("#phone")).to_have_value("0905 123 457")
        assert page.evaluate("() => window.stillTheSamePage === true")  # no reload happened
        shot(page, "station-03-quet-filled")
    except BaseException:
        with suppress(Exception):
            shot(page, "failed-quet")
        raise

    with Session(live.app.extensions["motcua"].engine) as session:
        request = _one_request_with_both_sides(session)
        scan = session.exec(select(StationScan)).one()
        assert scan.source == "scanner" and scan.request_id == request.id
