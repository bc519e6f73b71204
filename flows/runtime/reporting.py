"""How a stage tells the world what it is doing: one helper, used by every stage task.

- Progress goes to a Prefect progress artifact of the task run (shown in the
  Prefect UI, read back by the API and the CLI). Its description is a
  `StageProgress` (`flows.contract.artifacts`). Updates are
  throttled to `progress_interval_seconds`: each costs an API call (about
  14 ms with a shared client).
- Log lines go through Prefect's run logger, prefixed with the job id and the
  correlation id, so they land in the Prefect UI and in the worker's output.
- Every progress call is also a cancellation point.
- The stage's wall time is recorded in `results/<jobId>/stages.json` for the manifest.
"""

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prefect import get_run_logger, runtime
from prefect.artifacts import create_markdown_artifact, create_progress_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import ArtifactUpdate

from flows.contract.artifacts import FAILURE_KEY, JobFailure, StageProgress
from flows.contract.errors import AuraError, storage_error_of
from flows.contract.layout import JobFolders, job_folders
from flows.runtime import cancellation
from flows.settings import settings

TIMINGS_FILE = "stages.json"
_TIMINGS_LOCK = threading.Lock()


class JobLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Prefixes every line with the job id and the correlation id."""

    def __init__(self, logger: Any, job_id: str, correlation_id: str) -> None:
        super().__init__(logger, {})
        self.prefix = f"job={job_id} correlation={correlation_id} | "

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        return f"{self.prefix}{msg}", kwargs


def job_logger() -> JobLogger:
    """The run logger of the current flow or task run, with this job's ids on every line."""
    parameters = runtime.flow_run.parameters
    # A run started by hand (the Prefect UI's "Run") has none: its flow run id correlates its lines.
    correlation_id = parameters.get("correlation_id") or f"run-{runtime.flow_run.id}"
    return JobLogger(get_run_logger(), parameters["job_id"], correlation_id)


class StageReport:
    """Progress, logs and cancellation checks for one run of one stage."""

    def __init__(self, stage: str, client: Any) -> None:
        parameters = runtime.flow_run.parameters
        self.stage = stage
        self.flow_run_id = str(runtime.flow_run.id)
        self.folders: JobFolders = job_folders(parameters["job_id"])
        self.log = job_logger()
        self._client = client
        self._last_update = 0.0
        self._artifact_id = create_progress_artifact(progress=0.0, description=self._describe(0, 0, f"{stage} started"))

    def _describe(self, current: int, total: int, message: str) -> str:
        progress = StageProgress(stage=self.stage, current_item=current, total_items=total, message=message)
        return progress.model_dump_json()

    def cancelled(self) -> bool:
        return cancellation.is_cancelled(self.flow_run_id)

    def progress(self, current: int, total: int, message: str) -> None:
        """Report `current` of `total` items done; raises `JobCancelled` if the job was cancelled."""
        cancellation.raise_if_cancelled(self.flow_run_id, self.stage)
        now = time.monotonic()
        finished = total > 0 and current >= total
        if not finished and now - self._last_update < settings.progress_interval_seconds:
            return
        self._last_update = now
        percent = 100.0 * current / total if total else 0.0
        self._client.update_artifact(
            artifact_id=self._artifact_id,
            artifact=ArtifactUpdate(data=percent, description=self._describe(current, total, message)),
        )

    def record_duration(self, seconds: float) -> None:
        path = self.folders.results / TIMINGS_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        # Voice and visuals end at once, in two threads of this process: one read-and-write at a time.
        with _TIMINGS_LOCK:
            timings = json.loads(path.read_text()) if path.exists() else {}
            timings[self.stage] = round(seconds, 3)
            path.write_text(json.dumps(timings, indent=2))


@contextmanager
def stage_report(stage: str, *, record: bool = True) -> Iterator[StageReport]:
    """Open a stage's report; log its start and end and (with `record`) keep how long it took."""
    started = time.monotonic()
    with get_client(sync_client=True) as client:
        report = StageReport(stage, client)
        report.log.info("%s started", stage)
        try:
            yield report
        except Exception as exc:
            # Remembered on the error so the job's failure names the stage it came from.
            exc.stage = getattr(exc, "stage", stage)  # type: ignore[attr-defined]
            raise
        seconds = time.monotonic() - started
        if record:
            report.record_duration(seconds)
        report.log.info("%s completed in %.2f s", stage, seconds)


def log_placement() -> None:
    """Say where this attempt runs: after a retry or a lost worker, the log shows each attempt's machine."""
    job_logger().info(
        "attempt %s on worker %s, host %s, pid %s",
        runtime.flow_run.parameters.get("attempt", 1),
        os.environ.get("AURA_WORKER_NAME", "none (run in this process)"),
        socket.gethostname(),
        os.getpid(),
    )


def record_failure(error: Exception) -> None:
    """Store why the attempt failed as a `JobFailure` artifact of the flow run (read back by the API)."""
    aura = error if isinstance(error, AuraError) else storage_error_of(error)
    failure = JobFailure(
        code=aura.code if aura else AuraError.code,
        stage=getattr(error, "stage", None),
        message=aura.message if aura else f"{type(error).__name__}: {error}",
        suggested_actions=list(aura.suggested_actions)
        if aura
        else ["Retry the job; if it fails again, read the flow run's logs in the Prefect UI."],
        log_tail=aura.log_tail[-4000:] if aura else "",
    )
    create_markdown_artifact(
        markdown=f"**{failure.code}** in `{failure.stage}`: {failure.message}",
        key=FAILURE_KEY,
        description=failure.model_dump_json(),
    )


def recorded_durations(folders: JobFolders) -> dict[str, float]:
    path = folders.results / TIMINGS_FILE
    return json.loads(path.read_text()) if path.exists() else {}
