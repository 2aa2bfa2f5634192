"""Browser test fixtures: the real ASGI application (HTTP + Channels WebSockets) served by
uvicorn in a thread of the test process, and headless Chromium driven by Playwright.

In-process, the server shares the test's database, settings overrides (model directory,
storage) and channel layer; the pytest-django ``live_server`` fixture cannot serve
WebSockets (it is WSGI). Chromium is Debian's (/usr/bin/chromium): Playwright's own browser
download is never used.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"


@dataclass(frozen=True)
class AsgiServer:
    url: str


@pytest.fixture
def asgi_server(transactional_db: None) -> Iterator[AsgiServer]:
    """``workstation.asgi.application`` (with static files) on a free loopback port."""
    import uvicorn
    from django.conf import settings
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    from workstation.asgi import application

    # Each ASGI request runs in a thread of its own: a connection kept open past the request
    # would outlive the thread and keep the test database from being dropped.
    database = settings.DATABASES["default"]
    kept_max_age = database.get("CONN_MAX_AGE", 0)
    database["CONN_MAX_AGE"] = 0

    port = free_port()
    config = uvicorn.Config(
        ASGIStaticFilesHandler(application),  # type: ignore[no-untyped-call]
        host="127.0.0.1",
        port=port,
        ws="websockets",
        lifespan="off",
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="asgi-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the ASGI test server did not start")
        time.sleep(0.05)
    yield AsgiServer(f"http://127.0.0.1:{port}")
    server.should_exit = True
    thread.join(timeout=10)
    database["CONN_MAX_AGE"] = kept_max_age


@pytest.fixture
def browser_page(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """A fresh 1366x768 page in headless Chromium; skips where no Chromium is installed."""
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is absent (make install adds it where it can)")
    sync_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API keeps an event loop on this thread; the test's own ORM calls
    # between browser steps are plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        context = browser.new_context(viewport={"width": 1366, "height": 768})
        page = context.new_page()
        page.set_default_timeout(20_000)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        try:
            yield page
        finally:
            context.close()
            browser.close()
        # An uncaught exception in the page's scripts fails the test that caused it.
        assert not errors, f"JavaScript errors in the page: {errors}"
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
