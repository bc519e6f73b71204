"""Settings every test runs with. No server starts here.

Prefect reads `PREFECT_API_URL` when it is first imported, so the address of the
session's Prefect server is fixed now, on a free port; `tests/e2e/conftest.py`
starts the server there when the first end-to-end test needs it. The fast tests
never do, and any Prefect call they made by mistake would be refused at once.
Storage goes to a temporary `AURA_HOME`; retry delays are shortened; webhooks may reach 127.0.0.1.
"""

import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.utils.chat import chat_server  # noqa: F401  (a fixture for any test module)
from tests.utils.stack import free_port

SESSION_DIR = Path(tempfile.mkdtemp(prefix="aura-tests-"))
os.environ["AURA_HOME"] = str(SESSION_DIR / "home")
os.environ["AURA_RETRY_BASE_SECONDS"] = "0.3"
os.environ["AURA_RETRY_CAP_SECONDS"] = "2"
os.environ["AURA_RETRY_JITTER"] = "0.1"
os.environ["AURA_PROGRESS_INTERVAL_SECONDS"] = "0.1"
# English jobs are spoken by eSpeak NG, a hundred times faster than Piper; the tests of the neural voice
# ask for it (`voice.engine: piper`), and so does every job of the service's own default settings.
os.environ["AURA_VOICE_ENGINE"] = "espeak"
# Short enough for a test to see the watchdog end a stalled render; FFmpeg reports every 0.5 s even when slow.
os.environ["AURA_RENDER_STALL_SECONDS"] = "15"
# Webhook receivers listen on 127.0.0.1; their retries come 0.5, 1, 2, 2 … s apart instead of 5 s doubling to 1 h.
os.environ["AURA_WEBHOOK_ALLOW_PRIVATE"] = "true"
os.environ["AURA_WEBHOOK_RETRY_BASE_SECONDS"] = "0.5"
os.environ["AURA_WEBHOOK_RETRY_CAP_SECONDS"] = "2"
os.environ["AURA_WEBHOOK_SWEEP_AFTER_SECONDS"] = "1"
for name in [key for key in os.environ if key.startswith("PREFECT_")]:
    del os.environ[name]
os.environ["PREFECT_LOCAL_STORAGE_PATH"] = str(SESSION_DIR / "home" / "results")
os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{free_port()}/api"
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
# Flow runs send their log lines every 0.5 s instead of 2 s, so a stream's terminal event need wait only
# 1 s for the last ones instead of 3: about fifty streams and webhook deliveries end sooner.
os.environ["PREFECT_LOGGING_TO_API_BATCH_INTERVAL"] = "0.5"
os.environ["AURA_EVENTS_END_GRACE_SECONDS"] = "1"
# Two test sessions side by side on two cores keep Prefect's SQLite busier than a service should be: a
# single write there may outlast the 4 s deadline, whose 503 tests/api/test_submission.py proves.
os.environ["AURA_WRITE_DEADLINE_SECONDS"] = "30"

# A shell that starts pytest in the background (`make test &`, nohup) ignores SIGINT, and its
# children inherit that: the Ctrl-C tests would send a signal nobody hears. Handled signals are
# reset to the default in children, ignored ones are not.
signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(SESSION_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def prefect_api_url() -> str:
    return os.environ["PREFECT_API_URL"]


@pytest.fixture(scope="session")
def aura_home() -> Path:
    return Path(os.environ["AURA_HOME"])


@pytest.fixture(scope="session")
def artifacts_dir() -> Iterator[Path]:
    """Where tests keep files a person may want to look at after a run (screenshots, videos)."""
    folder = Path(__file__).resolve().parent.parent / "test-artifacts"
    folder.mkdir(exist_ok=True)
    yield folder
