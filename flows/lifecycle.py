"""What surrounds every attempt of a job: its folders, the cancel watch, the clean-up."""

from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID

from prefect import runtime
from prefect.client.orchestration import get_client
from prefect.exceptions import TerminationSignal
from prefect.states import Cancelled

from flows.cancellation import watch_for_cancel
from flows.reporting import record_failure
from flows.storage import job_folders


@contextmanager
def job_attempt(job_id: str) -> Iterator[None]:
    """Watch for a cancel request while the attempt runs; record why it failed;
    remove its scratch files however it ends.

    Stage results stay (`results/<jobId>/`) so a retry resumes; finalize removes
    them once the outputs are published.
    """
    folders = job_folders(job_id)
    flow_run_id = str(runtime.flow_run.id)
    terminated = False
    try:
        with watch_for_cancel(flow_run_id):
            yield
    except Exception as exc:
        record_failure(exc)
        raise
    except TerminationSignal:
        terminated = True
        raise
    finally:
        folders.remove_work()
        if terminated:
            _settle_cancel(flow_run_id)


def _settle_cancel(flow_run_id: str) -> None:
    """Record Cancelled now if a cancel request is why the runner stopped this process.

    On a worker, Prefect's runner answers a cancel request with SIGTERM within
    about 0.2 s; FFmpeg and the scratch files are gone by the time this runs, but
    the runner records Cancelled only after this process has wound down (4-5 s
    measured). The job has stopped, so it is recorded here.
    """
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(UUID(flow_run_id)).state
        if state is not None and state.is_cancelling():
            client.set_flow_run_state(UUID(flow_run_id), Cancelled(message="cancelled on request"), force=True)
