"""The REST contract's job bodies (README, "The service"; OpenAPI at /docs), camelCase on the wire."""

from datetime import datetime

from pydantic import Field

from api.schemas.base import ApiModel
from flows.contract.request import VideoRequest
from flows.contract.status import JobStatus as JobStatus  # re-exported: routes and the service name states from here


class ArtifactPublic(ApiModel):
    name: str = Field(description="File name inside the job's folder.")
    type: str = Field(description="Media type.")
    size_bytes: int
    url: str = Field(description="Download URL; supports HTTP Range.")


class ErrorPublic(ApiModel):
    code: str = Field(description="Error code, e.g. E305-JOB_STALLED (README, Errors).")
    stage: str | None = Field(description="Stage that failed, if known.")
    message: str
    suggested_actions: list[str]
    log_tail: str = Field(description="Last lines of the relevant log (FFmpeg's for render).")


class JobLinks(ApiModel):
    self: str
    progress: str
    events: str
    cancel: str
    retry: str
    prefect: str | None


class JobCreated(ApiModel):
    """A queued job. Sent again with its `Idempotency-Key`, the same body as the first time, with 200."""

    job_id: str
    status: JobStatus
    correlation_id: str
    links: JobLinks


class StepPublic(ApiModel):
    name: str
    status: str = Field(description="Prefect state name of the stage's task run.")
    progress_pct: float


class JobSnapshot(ApiModel):
    """Where a job stands; the first fields of both the job body and the progress body."""

    job_id: str
    status: JobStatus
    stage: str | None = Field(description="Stage running now, or the last one that ran.")
    percent: float = Field(description="0-100 over the whole job; never decreases within an attempt.")
    eta_seconds: float | None = Field(
        description="Estimated seconds left: for a queued job, the wait for a worker slot (from the jobs ahead "
        "of it and the learned stage times) plus its own run; none once it has ended, and none for a queued job "
        "while the API cannot read Prefect."
    )
    eta_low_seconds: float | None = Field(
        description="The low end of the ETA's band: 80 % of finished jobs took between the low and the high end "
        "of theirs, relative to their estimates."
    )
    eta_high_seconds: float | None = Field(description="The high end of the ETA's band.")
    elapsed_seconds: float | None = Field(description="Seconds since the current attempt started.")


class JobPublic(JobSnapshot):
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    ended_at: datetime | None
    last_completed_stage: str | None = Field(description="Last stage whose results a retry would reuse.")
    can_resume: bool
    attempt: int
    priority: int
    queue_position: int | None = Field(
        description="Place in line among the queued jobs of every owner (1: the next to start); none unless queued."
    )
    request: VideoRequest
    artifacts: list[ArtifactPublic]
    error: ErrorPublic | None
    flow_run_id: str
    prefect_url: str | None
    correlation_id: str | None


class QueueStats(ApiModel):
    total: int
    queued: int
    running: int = Field(description="Running jobs, cancelling ones included.")
    completed: int
    failed: int
    cancelled: int


class JobsPublic(ApiModel):
    jobs: list[JobPublic]
    total: int = Field(description="Jobs matching the filter, over all pages.")
    stats: QueueStats


class QueuePublic(ApiModel):
    jobs: list[JobPublic] = Field(description="Queued and running jobs, highest priority first.")
    stats: QueueStats


class ProgressPublic(JobSnapshot):
    current_step: StepPublic | None
    completed_steps: list[str]
    message: str


class JobStatusPublic(ApiModel):
    job_id: str
    status: JobStatus


class LogLine(ApiModel):
    timestamp: datetime
    level: int
    attempt: int
    message: str


class LogsPublic(ApiModel):
    job_id: str
    logs: list[LogLine]
    next_after: datetime | None = Field(
        description="Pass as `after` for the next page; none when this page is the last."
    )
