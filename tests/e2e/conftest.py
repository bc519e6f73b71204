"""End-to-end tests: a real Prefect server on SQLite, started once, on first use.

Every test under this folder is marked `slow` (`make test-fast` leaves them out)
and runs with the session's Prefect server at `PREFECT_API_URL` (see the root
conftest); the `service` fixture adds the deployments, a worker and an API process,
`secured` a second API process with keys, and `browser`/`page` a headless Chromium.
"""

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from api.supervisor.prefect_server import start_server, wait_healthy
from tests.conftest import SESSION_DIR
from tests.utils.browser import CHROMIUM, DESKTOP
from tests.utils.keys import ADMIN, ALICE, BOB, STUDIO
from tests.utils.stack import ApiProcess

HERE = Path(__file__).resolve().parent
LONGEST_MODULE = "test_scale_out.py"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.slow)
    # The longest module first: with two sessions (`TEST_SESSIONS=2`, pytest-xdist) it then runs beside
    # the others instead of alone after them.
    items.sort(key=lambda item: item.path.name != LONGEST_MODULE)


@pytest.fixture(scope="session", autouse=True)
def prefect_server() -> Iterator[str]:
    """The session's Prefect server, at the `PREFECT_API_URL` the root conftest chose."""
    api_url = os.environ["PREFECT_API_URL"]
    port = int(api_url.rsplit(":", 1)[1].split("/", 1)[0])
    server = start_server(SESSION_DIR / "prefect", port)
    try:
        wait_healthy(api_url, server, timeout=120)
        yield api_url
    finally:
        if "prefect" in sys.modules:
            # Send buffered logs and events while the server is still up, or the
            # exit handlers retry against a dead server for a minute.
            from prefect._internal.concurrency.services import QueueService

            QueueService.drain_all(timeout=10)
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


@pytest.fixture(scope="session")
def service(prefect_server: str) -> Iterator[Any]:
    """Deployments applied, one worker limited to one job at a time, one API process."""
    from api.supervisor.processes import running_worker
    from api.supervisor.provisioning import prepare_prefect
    from tests.utils.stack import ApiProcess

    prepare_prefect()
    with (
        ApiProcess(SESSION_DIR / "api.log", AURA_MANUAL_RETRY_BASE_SECONDS="1") as api,
        running_worker(prefect_server, limit=1, name="test-worker"),
    ):
        yield api


@pytest.fixture(scope="module")
def secured(service: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    """A second API process on the same Prefect and worker, with keys, a queue cap of 2 and one CORS origin."""
    folder = tmp_path_factory.mktemp("secured")
    keys = folder / "keys.txt"
    keys.write_text(f"# operators\n{ADMIN} ops admin\n")
    with ApiProcess(
        folder / "api.log",
        AURA_API_KEYS=f"{ALICE}:alice,{BOB}:bob",
        AURA_API_KEYS_FILE=str(keys),
        AURA_MAX_QUEUED_PER_OWNER="2",
        AURA_CORS_ORIGINS=f'["{STUDIO}"]',
    ) as api:
        yield api


# Per module, not per session: while Playwright's sync API is up, its event loop runs in the main
# thread, and Prefect's sync calls (Block.save, …) in later test modules would hand back coroutines.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's `/usr/bin/chromium`, headless, driven by Playwright."""
    assert CHROMIUM.exists(), "browser tests need Debian's chromium: apt-get install -y chromium (.ci/run does)"
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh page per test (viewport from indirect parametrization, desktop by default); fails on a page error."""
    context = browser.new_context(viewport=getattr(request, "param", DESKTOP))
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert not errors, f"the page threw: {errors}"
