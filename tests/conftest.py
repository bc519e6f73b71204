"""Shared fixtures: a real Prefect server on SQLite, started once per test session.

The server is started in `pytest_configure`, before any test module imports
Prefect, because Prefect reads `PREFECT_API_URL` when it is first imported.
Storage goes to a temporary `AURA_HOME`; retry delays are shortened.
"""

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.utils.chat import chat_server  # noqa: F401  (a fixture for any test module)

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="aura-tests-"))
os.environ["AURA_HOME"] = str(_SESSION_DIR / "home")
os.environ["AURA_RETRY_BASE_SECONDS"] = "0.3"
os.environ["AURA_RETRY_CAP_SECONDS"] = "2"
os.environ["AURA_RETRY_JITTER"] = "0.1"
os.environ["AURA_PROGRESS_INTERVAL_SECONDS"] = "0.1"
# Short enough for a test to see the watchdog end a stalled render; FFmpeg reports every 0.5 s even when slow.
os.environ["AURA_RENDER_STALL_SECONDS"] = "15"
for name in [key for key in os.environ if key.startswith("PREFECT_")]:
    del os.environ[name]
os.environ["PREFECT_LOCAL_STORAGE_PATH"] = str(_SESSION_DIR / "home" / "results")

_server: subprocess.Popen[bytes] | None = None
# A shell that starts pytest in the background (`make test &`, nohup) ignores SIGINT, and its
# children inherit that: the Ctrl-C tests would send a signal nobody hears. Handled signals are
# reset to the default in children, ignored ones are not.
signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_configure(config: pytest.Config) -> None:
    global _server
    from api.prefect_server import _free_port, start_server, wait_healthy

    port = _free_port(0)
    api_url = f"http://127.0.0.1:{port}/api"
    _server = start_server(_SESSION_DIR / "prefect", port)
    wait_healthy(api_url, _server, timeout=120)
    os.environ["PREFECT_API_URL"] = api_url
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"


def pytest_unconfigure(config: pytest.Config) -> None:
    import sys

    if "prefect" in sys.modules:
        # Send buffered logs and events while the server is still up, or the
        # exit handlers retry against a dead server for a minute.
        from prefect._internal.concurrency.services import QueueService

        QueueService.drain_all(timeout=10)
    if _server is not None:
        os.killpg(_server.pid, signal.SIGTERM)
        _server.wait(timeout=30)
    shutil.rmtree(_SESSION_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def prefect_api_url() -> str:
    return os.environ["PREFECT_API_URL"]


@pytest.fixture(scope="session")
def aura_home() -> Path:
    return Path(os.environ["AURA_HOME"])


@pytest.fixture(scope="session")
def service() -> Iterator["object"]:
    """Deployments applied, one worker limited to one job at a time, one API process."""
    from api.serve import running_worker
    from api.setup import prepare_prefect
    from tests.utils.stack import ApiProcess

    prepare_prefect()
    with ApiProcess(_SESSION_DIR / "api.log", AURA_MANUAL_RETRY_BASE_SECONDS="1") as api, \
            running_worker(os.environ["PREFECT_API_URL"], limit=1, name="test-worker"):
        yield api


@pytest.fixture(scope="session")
def artifacts_dir() -> Iterator[Path]:
    """Where tests keep files a person may want to look at after a run (screenshots, videos)."""
    folder = Path(__file__).resolve().parent.parent / "test-artifacts"
    folder.mkdir(exist_ok=True)
    yield folder
