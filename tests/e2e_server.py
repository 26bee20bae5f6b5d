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
