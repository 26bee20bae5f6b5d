"""A real WSGI server on loopback for browser tests: the application on a private SQLite database and folders."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server


@dataclass
class LiveApp:
    """The running application: where to reach it, how to log in, where its SMS go."""

    url: str
    app: Any
    username: str
    password: str
    outbox: Path


def build_app(folder: Path, database_url: str | None = None) -> tuple[Any, str]:
    """The application with its instance, storage, outbox and database under `folder`; migrated and seeded.

    Returns the app and the demo officer's password. MOTCUA_INSTANCE is set only while the app is made: the factory
    reads it then and never again, so no other test sees it.
    """
    from forms.db import upgrade
    from web.app import create_app
    from web.manage import seed_demo

    folder.mkdir(parents=True, exist_ok=True)
    previous = os.environ.get("MOTCUA_INSTANCE")
    os.environ["MOTCUA_INSTANCE"] = str(folder / "instance")
    try:
        app = create_app(
            {
                "TESTING": True,
                "DATABASE_URL": database_url or f"sqlite:///{folder / 'motcua.db'}",
                "STORAGE": str(folder / "storage"),
                "SMS_GATEWAY": "outbox",
                "SMS_OUTBOX": str(folder / "sms-outbox.jsonl"),
                "SECRET_KEY": "e2e-" + os.urandom(8).hex(),
                "SCAN_FOLDER": None,
            }
        )
    finally:
        if previous is None:
            os.environ.pop("MOTCUA_INSTANCE", None)
        else:
            os.environ["MOTCUA_INSTANCE"] = previous
    upgrade(app.extensions["motcua"].engine)
    return app, seed_demo(app)


@contextmanager
def live_server(folder: Path) -> Iterator[LiveApp]:
    """The application served by werkzeug (threaded) on 127.0.0.1 and a free port, stopped on exit."""
    from web.manage import DEMO_OFFICER

    app, password = build_app(folder)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="e2e-wsgi", daemon=True)
    thread.start()
    try:
        yield LiveApp(
            url=f"http://127.0.0.1:{server.server_port}",
            app=app,
            username=DEMO_OFFICER[0],
            password=password,
            outbox=Path(app.config["SMS_OUTBOX"]),
        )
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        app.extensions["motcua"].engine.dispose()


CHROMIUM = Path("/usr/bin/chromium")
# Debian's Chromium as root in a closed network: no sandbox, and none of the background calls home that the
# machine would refuse many at a time.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _unavailable(reason: str) -> None:
    import pytest

    # On CI a missing browser is a broken runner, not a reason to pass quietly.
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the browser test must run)")
    pytest.skip(reason)


@contextmanager
def chromium(step_ms: int) -> Iterator[Any]:
    """Headless Debian Chromium through Playwright; skipped (failed on CI) where either is missing."""
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing: install the system's chromium package to run the browser tests")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        _unavailable("playwright is not installed: pip install -e '.[dev]'")
    # expect() has its own 5 s default, short for a page that a loaded machine renders after a reading.
    expect.set_options(timeout=step_ms)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@contextmanager
def browser_page(browser: Any, step_ms: int, **context_options: Any) -> Iterator[Any]:
    """A fresh page in its own context; any JavaScript error on it fails the test at the end."""
    context = browser.new_context(locale="vi-VN", viewport={"width": 1280, "height": 900}, **context_options)
    opened = context.new_page()
    opened.set_default_timeout(step_ms)
    opened.set_default_navigation_timeout(step_ms)
    script_errors: list[str] = []
    opened.on("pageerror", lambda error: script_errors.append(str(error)))
    try:
        yield opened
    finally:
        context.close()
    assert not script_errors, f"JavaScript errors on the pages: {script_errors}"
