"""The SSE contract's event payloads (`GET /api/jobs/{id}/events`; README, "Watching a job live"), camelCase."""

from datetime import datetime
from typing import Literal

from pydantic import Field

from api.schemas.base import ApiModel
from api.schemas.jobs import ArtifactPublic, ErrorPublic
from flows.contract.status import JobStatus

StepStatus = Literal["started", "completed", "failed", "retrying", "cached", "cancelled"]
WarningKind = Literal["stall", "retry", "log", "replay"]


class JobStatusEvent(ApiModel):
    """`job-status`: first event of every (re)connection, and every change of the job's status."""

    job_id: str
    status: JobStatus
    stage: str | None
    percent: float
    eta_seconds: float | None
    eta_low_seconds: float | None = Field(description="80 % of finished jobs took no less than this (see etaSeconds).")
    eta_high_seconds: float | None = Field(description="80 % of finished jobs took no more than this.")
    attempt: int
    timestamp: datetime


class StepStatusEvent(ApiModel):
    """`step-status`: a stage started, completed, failed, waits to retry, was reused, or was cancelled."""

    job_id: str
    step: str
    status: StepStatus
    attempt: int
    duration_seconds: float | None = None
    timestamp: datetime


class StepProgressEvent(ApiModel):
    """`step-progress`: progress inside a stage."""

    job_id: str
    step: str
    step_percent: float
    percent: float = Field(description="0-100 over the whole job; never decreases within an attempt.")
    message: str
    current_item: int
    total_items: int
    eta_seconds: float | None
    eta_low_seconds: float | None = Field(description="80 % of finished jobs took no less than this (see etaSeconds).")
    eta_high_seconds: float | None = Field(description="80 % of finished jobs took no more than this.")
    elapsed_seconds: float
    timestamp: datetime


class JobLogEvent(ApiModel):
    """`job-log`: one log line of the job's flow run."""

    job_id: str
    level: str
    step: str | None
    message: str
    timestamp: datetime


class WarningEvent(ApiModel):
    """`warning`: trouble that does not end the job; `stall` when a stage stops moving."""

    job_id: str
    step: str | None
    kind: WarningKind
    message: str
    stall_seconds: float | None = None
    log_tail: list[str] | None = Field(default=None, description="Last log lines, for a stall.")
    timestamp: datetime


class JobCompletedEvent(ApiModel):
    job_id: str
    status: Literal["completed"]
    duration_seconds: float | None
    artifacts: list[ArtifactPublic]


class JobFailedEvent(ApiModel):
    job_id: str
    status: Literal["failed"]
    error: ErrorPublic
    can_retry: bool
    can_resume: bool


class JobCancelledEvent(ApiModel):
    job_id: str
    status: Literal["cancelled"]
    stage: str | None
    timestamp: datetime


EVENT_NAMES: dict[type[ApiModel], str] = {
    JobStatusEvent: "job-status",
    StepStatusEvent: "step-status",
    StepProgressEvent: "step-progress",
    JobLogEvent: "job-log",
    WarningEvent: "warning",
    JobCompletedEvent: "job-completed",
    JobFailedEvent: "job-failed",
    JobCancelledEvent: "job-cancelled",
}


class EventsStats(ApiModel):
    watched_jobs: int = Field(description="Jobs this API process is streaming or keeps in memory.")
    subscribers: int = Field(description="Open event streams.")
    prefect_requests: int = Field(description="Requests the poll loop has made to Prefect since start.")
    ticks: int = Field(description="Poll loop iterations since start.")
    copy_requests: int = Field(
        description="Requests the process's copy of the jobs has made to Prefect since start: "
        "its refreshes, and reads of jobs it did not hold."
    )
