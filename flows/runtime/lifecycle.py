"""What surrounds every attempt of a job: its folders, the cancel watch, the clean-up."""

from collections.abc import Iterator
from contextlib import contextmanager

from prefect import runtime
from prefect.exceptions import TerminationSignal

from flows.contract.layout import job_folders
from flows.contract.request import VideoRequest
from flows.runtime.cancellation import settle_cancelled, watch_for_cancel
from flows.runtime.reporting import log_placement, record_failure
from flows.runtime.webhooks import follow_with_webhook


@contextmanager
def job_attempt(job_id: str, request: VideoRequest) -> Iterator[None]:
    """Start its webhook's delivery run if the webhook wants step events; watch for a cancel request
    while the attempt runs; record why it failed; remove its scratch files however it ends.

    Stage results stay (`results/<jobId>/`) so a retry resumes; finalize removes
    them once the outputs are published.
    """
    folders = job_folders(job_id)
    flow_run_id = str(runtime.flow_run.id)
    log_placement()
    follow_with_webhook(request, job_id)
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
            # On a worker, Prefect's runner answers a cancel request with SIGTERM within ~0.2 s.
            settle_cancelled(flow_run_id, reason="cancelled on request")
