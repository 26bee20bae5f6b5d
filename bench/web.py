"""Web benchmark: upload-to-prefill time over the committed samples, and the account list's req/s at 10,000 rows."""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import tempfile
import time
import unicodedata
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

os.environ.setdefault("OMP_THREAD_LIMIT", "1")
# Run as a script, this file's folder comes first on the path and its name would hide the `web` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from sqlalchemy import create_engine, insert, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from forms.db import upgrade  # noqa: E402
from forms.models import CitizenAccount, Officer, Unit  # noqa: E402
from forms.security import hash_password  # noqa: E402
from intake.synth.measure import load_truth  # noqa: E402
from web.app import create_app  # noqa: E402
from web.manage import DEMO_OFFICER, seed_demo  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples" / "scans"
CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')
PREFILLED = ("id_number", "full_name", "date_of_birth")

SURNAMES = ("NGUYỄN", "TRẦN", "LÊ", "PHẠM", "HOÀNG", "HUỲNH", "PHAN", "VŨ", "VÕ", "ĐẶNG", "BÙI", "ĐỖ", "HỒ", "NGÔ")
MIDDLES = ("VĂN", "THỊ", "HỮU", "ĐỨC", "MINH", "NGỌC", "THANH", "THU", "QUANG", "GIA", "KIM", "XUÂN", "")
GIVEN = (
    *("AN", "BÌNH", "CHI", "DŨNG", "GIANG", "HÀ", "HẢI", "HẠNH", "HÙNG", "HƯƠNG", "KHOA", "LAN", "LINH", "LONG"),
    *("MAI", "MY", "NAM", "NHI", "PHONG", "PHÚC", "QUỲNH", "SƠN", "TÂM", "THẢO", "TRANG", "TÙNG", "VINH", "YẾN"),
)
UNITS = (("TTHCC", "Trung tâm phục vụ hành chính công Quận 3"), ("P7", "Bộ phận một cửa Phường 7"))
PROVINCES = ("001", "031", "038", "042", "044", "045", "046", "048", "079", "092")
MOBILE_PREFIXES = ("090", "091", "093", "094", "096", "097", "098", "032", "033", "035", "070", "077", "081", "086")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else float("nan")


def nfc(value: str | None) -> str | None:
    return unicodedata.normalize("NFC", value) if value is not None else None


# ---------------------------------------------------------------- the application and a logged-in client


def make_app(folder: Path, database_url: str) -> tuple[Any, str]:
    os.environ["MOTCUA_INSTANCE"] = str(folder / "instance")
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "STORAGE": str(folder / "storage"),
            "SMS_GATEWAY": "outbox",
            "SMS_OUTBOX": str(folder / "sms-outbox.jsonl"),
            "SECRET_KEY": "bench-" + uuid.uuid4().hex,
            "SCAN_FOLDER": None,
        }
    )
    upgrade(app.extensions["motcua"].engine)
    return app, seed_demo(app)


def csrf_token(html: str) -> str:
    found = CSRF.search(html)
    if not found:
        raise SystemExit("no CSRF token on the page")
    return found.group(1)


def logged_in(app: Any, password: str) -> tuple[Any, str]:
    client = app.test_client()
    token = csrf_token(client.get("/login").get_data(as_text=True))
    answer = client.post("/login", data={"username": DEMO_OFFICER[0], "password": password, "csrf_token": token})
    if answer.status_code != 302:
        raise SystemExit(f"login failed: {answer.status_code}")
    return client, csrf_token(client.get("/accounts/").get_data(as_text=True))


# ---------------------------------------------------------------- (a) upload to prefilled form


def new_draft(client: Any, token: str) -> str:
    answer = client.post("/accounts/new", data={"csrf_token": token})
    location = answer.headers.get("Location", "")
    if answer.status_code != 302 or "/accounts/requests/" not in location:
        raise SystemExit(f"[Thêm mới] failed: {answer.status_code} {location}")
    return location.rstrip("/").rsplit("/", 1)[1]


def upload(client: Any, token: str, request_id: str, files: list[Path]) -> tuple[float, int, dict[str, Any]]:
    handles = [path.open("rb") for path in files]
    try:
        data = {"scans": [(handle, path.name) for handle, path in zip(handles, files, strict=True)]}
        started = time.perf_counter()
        answer = client.post(
            f"/accounts/requests/{request_id}/scans",
            data=data,
            headers={"X-CSRFToken": token},
            content_type="multipart/form-data",
        )
        body = answer.get_json(silent=True) or {}
        elapsed = time.perf_counter() - started
    finally:
        for handle in handles:
            handle.close()
    return elapsed, answer.status_code, body


def form_truth(case: dict[str, Any]) -> dict[str, str]:
    truth = case["fields"]
    return {
        "id_number": truth["id_number"],
        "full_name": truth["full_name"],
        "date_of_birth": date.fromisoformat(truth["date_of_birth"]).strftime("%d/%m/%Y"),
    }


def bench_scans(client: Any, token: str, cases: list[dict[str, Any]]) -> None:
    # One untimed reading first: the first in a process loads Tesseract's models and warms the caches.
    warm = cases[0]
    upload(client, token, new_draft(client, token), [SAMPLES / entry["file"] for entry in warm["files"]])

    times: list[float] = []
    right = {name: 0 for name in PREFILLED}
    all_right = 0
    misses: list[str] = []
    for case in cases:
        files = [SAMPLES / entry["file"] for entry in case["files"]]
        elapsed, status, body = upload(client, token, new_draft(client, token), files)
        times.append(elapsed * 1000)
        fields = body.get("fields", {}) if status == 200 else {}
        truth = form_truth(case)
        wrong = []
        for name in PREFILLED:
            value = (fields.get(name) or {}).get("value")
            if nfc(value) == nfc(truth[name]):
                right[name] += 1
            else:
                wrong.append(f"{name}={value!r} (truth {truth[name]!r})")
        if not wrong:
            all_right += 1
        else:
            where = f"{case['case']} [{case['layout']}, {len(files)} file(s), HTTP {status}]"
            misses.append(f"{where}: " + "; ".join(wrong))

    n = len(cases)
    print(f"(a) upload -> prefilled form, Flask test client (no HTTP socket), {n} sample cases, 1 warm-up untimed")
    print(f"    {'':<26}{'median':>10}{'p95':>10}{'mean':>10}{'max':>10}")
    print(
        f"    {'POST .../scans (ms)':<26}{statistics.median(times):>10.0f}{percentile(times, 95):>10.0f}"
        f"{statistics.fmean(times):>10.0f}{max(times):>10.0f}"
    )
    print("    prefilled equal to truth: " + ", ".join(f"{name} {right[name]}/{n}" for name in PREFILLED)
          + f"; all three {all_right}/{n}")  # fmt: skip
    for miss in misses:
        print("      miss:", miss)


# ---------------------------------------------------------------- (b) the list at 10,000 accounts


def id_number(rng: random.Random, born: date, serial: int) -> str:
    # CCCD structure: province, century-and-sex digit, two digits of the year of birth, six digits (unique here).
    female = rng.random() < 0.5
    century = 0 if born.year < 2000 else 2
    return f"{rng.choice(PROVINCES)}{century + female}{born.year % 100:02d}{serial:06d}"


def fill_accounts(engine: Any, count: int, seed: int = 2026) -> tuple[int, float]:
    """`count` accounts over 8 officers in 2 units and the past year; returns the officer count and seconds taken."""
    rng = random.Random(seed)
    started = time.perf_counter()
    now = datetime.now(UTC)
    with engine.begin() as connection:
        units = []
        for code, name in UNITS:
            added = connection.execute(insert(Unit.__table__).values(code=code, name=name, created_at=now))
            units.append(added.inserted_primary_key[0])
        officer_hash = hash_password(uuid.uuid4().hex)
        officers = []
        for number in range(8):
            values = {
                "username": f"bench{number}",
                "full_name": f"{rng.choice(SURNAMES)} THỊ {rng.choice(GIVEN)}".title(),
                "phone": f"09{rng.randrange(10**8):08d}",
                "unit_id": units[number % 2],
                "role": "officer",
                "password_hash": officer_hash,
                "active": True,
                "created_at": now,
            }
            officers.append(connection.execute(insert(Officer.__table__).values(**values)).inserted_primary_key[0])
        # One hash for all: the list never reads it, and 10,000 real password hashes would take minutes.
        account_hash = hash_password(uuid.uuid4().hex)
        rows = []
        for serial in range(count):
            born = date(1940, 1, 1) + timedelta(days=rng.randrange(365 * 66))
            officer = rng.choice(officers)
            name = " ".join(part for part in (rng.choice(SURNAMES), rng.choice(MIDDLES), rng.choice(GIVEN)) if part)
            phone = f"{rng.choice(MOBILE_PREFIXES)}{rng.randrange(10**7):07d}"
            rows.append(
                {
                    "id_number": id_number(rng, born, serial),
                    "full_name": name,
                    "date_of_birth": born,
                    "phone": phone,
                    "email": f"cd{serial}@example.vn" if rng.random() < 0.3 else None,
                    "unit_id": units[officers.index(officer) % 2],
                    "officer_id": officer,
                    "request_id": None,
                    "password_hash": account_hash,
                    "created_at": now - timedelta(seconds=rng.randrange(365 * 86400)),
                }
            )
        connection.execute(insert(CitizenAccount.__table__), rows)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE"))
    return len(officers), time.perf_counter() - started


def time_gets(client: Any, url: str, count: int) -> tuple[float, float, int]:
    """Requests per second, the p95 in ms and the page's "Tìm thấy N kết quả" for `count` sequential GETs."""
    first = client.get(url)
    if first.status_code != 200:
        raise SystemExit(f"GET {url}: {first.status_code}")
    found = re.search(r"Tìm thấy (\d+) kết quả", first.get_data(as_text=True))
    each = []
    started = time.perf_counter()
    for _ in range(count):
        before = time.perf_counter()
        answer = client.get(url)
        answer.get_data()
        each.append((time.perf_counter() - before) * 1000)
        if answer.status_code != 200:
            raise SystemExit(f"GET {url}: {answer.status_code}")
    elapsed = time.perf_counter() - started
    return count / elapsed, percentile(each, 95), int(found.group(1)) if found else -1


def bench_list(app: Any, client: Any, count: int, requests: int) -> None:
    engine = app.extensions["motcua"].engine
    officers, seconds = fill_accounts(engine, count)
    year_ago = datetime.now(UTC).date() - timedelta(days=365)
    date_from = (year_ago + timedelta(days=90)).strftime("%d/%m/%Y")
    date_to = (year_ago + timedelta(days=180)).strftime("%d/%m/%Y")
    by_name_and_dates = {"full_name": "thị", "date_from": date_from, "date_to": date_to}
    by_name_and_unit = {"full_name": "hùng", "unit": _a_unit(engine), "page": 2}
    pages = [
        ("first page", "/accounts/"),
        ("page 50", "/accounts/?page=50"),
        (f"name 'thị' + {date_from}..{date_to}", f"/accounts/?{urlencode(by_name_and_dates)}"),
        ("name 'hùng', unit P7, page 2", f"/accounts/?{urlencode(by_name_and_unit)}"),
    ]
    print()
    print(
        f"(b) GET /accounts/ with {count} accounts ({officers} officers, 2 units, one year; inserted in "
        f"{seconds:.1f} s), {engine.dialect.name}, Flask test client, {requests} sequential GETs each after one untimed"
    )
    print(f"    {'page':<44}{'matches':>9}{'req/s':>9}{'p95 ms':>9}")
    for label, url in pages:
        rate, p95, matches = time_gets(client, url, requests)
        print(f"    {label:<44}{matches:>9}{rate:>9.1f}{p95:>9.1f}")


def _a_unit(engine: Any) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT id FROM unit WHERE code = 'P7'")).scalar_one())


# ---------------------------------------------------------------- a throwaway PostgreSQL database


def throwaway_database(server_url: str) -> tuple[str, Any]:
    """A fresh database on the server of `server_url` and a function that drops it."""
    url = make_url(server_url)
    name = f"motcua_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url.set(database=url.database or "postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop(app: Any) -> None:
        if app is not None:
            app.extensions["motcua"].engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url.set(database=name).render_as_string(hide_password=False), drop


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", help="a PostgreSQL server, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/"
                        "postgres: a throwaway database is created on it and dropped after (default: SQLite in a temp "
                        "folder)")  # fmt: skip
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200, help="sequential GETs per list page")
    parser.add_argument("--skip-scans", action="store_true", help="only (b), the list")
    parser.add_argument("--skip-list", action="store_true", help="only (a), the scans")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="motcua-bench-web-") as temp:
        folder = Path(temp)
        drop = None
        if args.database_url:
            if not args.database_url.startswith("postgresql"):
                raise SystemExit("--database-url: a postgresql+psycopg://... server URL")
            database_url, drop = throwaway_database(args.database_url)
        else:
            database_url = f"sqlite:///{folder / 'bench.db'}"
        app = None
        try:
            app, password = make_app(folder, database_url)
            client, token = logged_in(app, password)
            if not args.skip_scans:
                bench_scans(client, token, load_truth(SAMPLES))
            if not args.skip_list:
                bench_list(app, client, args.accounts, args.requests)
        finally:
            if drop is not None:
                drop(app)
            elif app is not None:
                app.extensions["motcua"].engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
