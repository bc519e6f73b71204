"""Cancel requests reach a running job within `cancel_poll_seconds`.

Prefect's own path is slow and blunt: the runner notices a Cancelling flow run
after its poll interval and kills the flow-run process, leaving children
behind. Here a thread in the flow-run process watches its own flow run; when
Prefect reports it Cancelling (the API, the Prefect UI, or the CLI's Ctrl-C
set that state), the job's flag is raised. Stages check the flag between items
and FFmpeg is killed within 0.1 s, so the flow ends Cancelled on its own.
"""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID

from flows.contract.errors import JobCancelled
from flows.settings import settings

log = logging.getLogger(__name__)
_flags: dict[str, threading.Event] = {}
_lock = threading.Lock()


def _flag(flow_run_id: str) -> threading.Event:
    with _lock:
        return _flags.setdefault(flow_run_id, threading.Event())


def request_cancel(flow_run_id: str) -> None:
    """Raise the flag of a flow run executing in this process."""
    _flag(flow_run_id).set()


def is_cancelled(flow_run_id: str) -> bool:
    return _flag(flow_run_id).is_set()


def raise_if_cancelled(flow_run_id: str, stage: str) -> None:
    if is_cancelled(flow_run_id):
        raise JobCancelled(f"{stage}: the job was cancelled")


@contextmanager
def watch_for_cancel(flow_run_id: str) -> Iterator[None]:
    """While the block runs, poll Prefect for a cancel request on this flow run."""
    flag = _flag(flow_run_id)
    stop = threading.Event()
    watcher = threading.Thread(
        target=_watch, args=(flow_run_id, flag, stop), name=f"cancel-watch-{flow_run_id}", daemon=True
    )
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join(timeout=settings.cancel_poll_seconds * 4)
        with _lock:
            _flags.pop(flow_run_id, None)


def settle_cancelled(flow_run_id: str, *, reason: str) -> None:
    """Record Cancelled for a flow run that was asked to cancel and has stopped its work.

    Whoever supervises the run normally records it (Prefect's runner, once the
    flow-run process has wound down: 4-5 s measured; or the engine itself, whose
    proposal was once seen unrecorded for an in-process run). Called where the
    work is known to have stopped, so the job shows `cancelled` at once.
    """
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelled

    with get_client(sync_client=True) as client:
        state = client.read_flow_run(UUID(flow_run_id)).state
        if state is not None and state.is_cancelling():
            client.set_flow_run_state(UUID(flow_run_id), Cancelled(message=reason), force=True)


def _watch(flow_run_id: str, flag: threading.Event, stop: threading.Event) -> None:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        while not stop.wait(settings.cancel_poll_seconds):
            try:
                state = client.read_flow_run(UUID(flow_run_id)).state
            except Exception:  # noqa: BLE001 - a missed poll is retried on the next tick
                log.debug("could not read flow run %s; will poll again", flow_run_id, exc_info=True)
                continue
            if state is not None and (state.is_cancelling() or state.is_cancelled()):
                flag.set()
                return
