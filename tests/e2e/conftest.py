"""End-to-end tests: a real Prefect server on SQLite, started once, on first use.

Every test under this folder is marked `slow` (`make test-fast` leaves them out)
and runs with the session's Prefect server at `PREFECT_API_URL` (see the root
conftest); the `service` fixture adds the deployments, a worker and an API process.
"""

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.supervisor.prefect_server import start_server, wait_healthy
from tests.conftest import SESSION_DIR

HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.slow)


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
