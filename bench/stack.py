"""What a benchmark needs running: Prefect (embedded unless PREFECT_API_URL), a worker and an API process."""

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.supervisor.prefect_server import ensure_server  # noqa: E402
from flows.settings import settings  # noqa: E402


def use_prefect() -> None:
    """Point this process at the Prefect server; call before anything imports Prefect."""
    os.environ["PREFECT_API_URL"] = ensure_server().api_url
    os.environ.update(settings.prefect_env())
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")


@contextmanager
def service_stack(worker_limit: int, **api_env: str) -> Iterator[Any]:
    """Deployments applied, one worker running `worker_limit` jobs at once, one `aura api`."""
    use_prefect()
    from api.supervisor.processes import running_worker, unwind_on_signals
    from api.supervisor.provisioning import prepare_prefect
    from tests.utils.stack import ApiProcess

    prepare_prefect()
    # SIGTERM (`kill`, a timeout) unwinds like Ctrl-C, so the API, the workers and the warm parent stop with
    # the bench; Python's default would end the bench alone and leave them running.
    unwind_on_signals()
    with (
        ApiProcess(Path("/tmp/aura-bench-api.log"), **api_env) as api,
        running_worker(os.environ["PREFECT_API_URL"], limit=worker_limit, name="bench-worker"),
    ):
        yield api
