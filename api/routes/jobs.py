"""`/api/jobs`: create, read, list, follow, cancel and retry video jobs."""

import time
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import FileResponse
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId, LogFilterTimestamp
from prefect.client.schemas.sorting import LogSort
from pydantic import Field

from api import jobs
from api.auth import Who
from api.deps import Correlation, Events, Index, Prefect
from api.models import (
    ApiModel,
    JobCreated,
    JobLinks,
    JobPublic,
    JobSnapshot,
    JobsPublic,
    JobStatus,
    JobStatusPublic,
    ProgressPublic,
    StepPublic,
)
from api.poller import Poller
from api.problems import Problem, not_found
from api.progress import stage_snapshot
from flows.errors import InvalidRequest
from flows.providers import espeak
from flows.request import VideoRequest
from flows.storage import job_folders

router = APIRouter(prefix="/api/jobs", tags=["jobs"])
NOT_FOUND = {404: {"description": "No such job (problem+json)."}}


def links(job_id: str, prefect_url: str | None) -> JobLinks:
    base = f"/api/jobs/{job_id}"
    return JobLinks(self=base, progress=f"{base}/progress", events=f"{base}/events",
                    cancel=f"{base}/cancel", retry=f"{base}/retry", prefect=prefect_url)


def job_body(runs: jobs.JobRuns, client: Prefect, poller: Poller) -> JobPublic:
    job_id = runs.latest.parameters["job_id"]
    return jobs.job_public(runs, ui=jobs.prefect_ui(client), eta_model=poller.eta, live_eta=poller.live_eta(job_id))


@router.post("", status_code=202, response_model=JobCreated,
             responses={422: {"description": "Invalid request (problem+json)."},
                        429: {"description": "Too many queued jobs (problem+json, Retry-After)."}})
async def create_job(body: VideoRequest, response: Response, client: Prefect, index: Index,
                     correlation_id: Correlation, who: Who) -> JobCreated:
    """Queue a video job for the caller; it starts when a worker has a free slot, higher priority first."""
    try:
        espeak.check_voice(body.voice_name())
    except InvalidRequest as exc:
        raise Problem(422, exc.code, "Invalid request", exc.message, suggested_actions=list(exc.suggested_actions)) from exc
    await jobs.check_queue_room(client, who.owner)
    submitted_at = time.monotonic()
    flow_run = await jobs.submit(client, body, owner=who.owner, correlation_id=correlation_id)
    index.add(flow_run, submitted_at)
    job_id = flow_run.parameters["job_id"]
    response.headers["Location"] = f"/api/jobs/{job_id}"
    prefect_url = f"{jobs.prefect_ui(client)}/runs/flow-run/{flow_run.id}"
    return JobCreated(job_id=job_id, status="queued", correlation_id=correlation_id, links=links(job_id, prefect_url))


@router.get("", response_model=JobsPublic)
async def list_jobs(
    client: Prefect, poller: Events, index: Index, who: Who,
    status: Annotated[list[JobStatus] | None, Query(description="Only jobs in these states.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> JobsPublic:
    """The caller's jobs (an admin's: everyone's), newest first, with the count over all pages and the stats."""
    page, total = await index.page(who, statuses=status, limit=limit, offset=offset)
    return JobsPublic(jobs=[job_body(runs, client, poller) for runs in page], total=total, stats=await index.stats(who))


@router.get("/{job_id}", response_model=JobPublic, responses=NOT_FOUND)
async def read_job(job_id: str, client: Prefect, poller: Events, index: Index, who: Who) -> JobPublic:
    """The job: status, stage, percent, timestamps, attempt, artifacts, and the error if it failed."""
    return job_body(await index.read(job_id, who), client, poller)


@router.get("/{job_id}/progress", response_model=ProgressPublic, responses=NOT_FOUND)
async def read_progress(job_id: str, client: Prefect, poller: Events, index: Index, who: Who) -> ProgressPublic:
    """Where the job stands: stage, overall percent, elapsed time and estimate."""
    runs = await index.read(job_id, who)
    job = job_body(runs, client, poller)
    snapshot = stage_snapshot(a for a in runs.artifacts if a.flow_run_id == runs.latest.id)
    current = None
    if snapshot.stage and job.status != "completed":
        current = StepPublic(name=snapshot.stage, status=runs.latest.state.name if runs.latest.state else "Pending",
                             progress_pct=round(snapshot.stage_percent, 2))
    return ProgressPublic(
        **job.model_dump(include=set(JobSnapshot.model_fields), by_alias=False),
        current_step=current, completed_steps=jobs.completed_steps(job), message=snapshot.message,
    )


class LogLine(ApiModel):
    timestamp: datetime
    level: int
    attempt: int
    message: str


class LogsPublic(ApiModel):
    job_id: str
    logs: list[LogLine]
    next_after: datetime | None = Field(description="Pass as `after` for the next page; none when this page is the last.")


@router.get("/{job_id}/logs", response_model=LogsPublic, responses=NOT_FOUND)
async def read_logs(
    job_id: str, client: Prefect, who: Who,
    after: Annotated[datetime | None, Query(description="Only lines after this time (ISO 8601).")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 200,
) -> LogsPublic:
    """Log lines of every attempt, oldest first, paged by time."""
    runs = await jobs.read_job_runs(client, job_id, who)
    attempt_of = {run.id: run.parameters.get("attempt", 1) for run in runs.attempts}
    log_filter = LogFilter(flow_run_id=LogFilterFlowRunId(any_=list(attempt_of)))
    if after:
        log_filter.timestamp = LogFilterTimestamp(after_=after)
    found = await client.read_logs(log_filter=log_filter, sort=LogSort.TIMESTAMP_ASC, limit=limit)
    # Prefect's `after_` is inclusive: the line at the cursor was on the previous page.
    found = [log for log in found if after is None or log.timestamp > after]
    lines = [LogLine(timestamp=log.timestamp, level=log.level, attempt=attempt_of.get(log.flow_run_id, 1),
                     message=log.message) for log in found]
    return LogsPublic(job_id=job_id, logs=lines, next_after=lines[-1].timestamp if len(lines) == limit else None)


@router.get("/{job_id}/artifacts/{name}", response_class=FileResponse,
            responses={200: {"description": "The file; Range requests answer 206."}, **NOT_FOUND})
async def download_artifact(job_id: str, name: str, index: Index, who: Who) -> FileResponse:
    """A finished job's output file, with HTTP Range support for seeking."""
    jobs.check_job_id(job_id)
    if not who.admin:
        # Whose job it is lives in Prefect; an admin may read any, so the video's range requests skip the lookup.
        await index.read(job_id, who)
    media_type = jobs.ARTIFACT_TYPES.get(name)
    if media_type is None:
        raise not_found("artifact", name)
    folder = job_folders(job_id).outputs.resolve()
    path = (folder / name).resolve()
    if not path.is_relative_to(folder) or not path.is_file():
        raise not_found("artifact", name)
    return FileResponse(path, media_type=media_type, filename=name, content_disposition_type="inline")


@router.post("/{job_id}/cancel", status_code=202, response_model=JobStatusPublic,
             responses={**NOT_FOUND, 409: {"description": "The job already ended (problem+json)."}})
async def cancel_job(job_id: str, client: Prefect, index: Index, who: Who) -> JobStatusPublic:
    """Cancel: a queued job at once; a running one stops its stage and FFmpeg within a second."""
    status = await jobs.cancel(client, job_id, who)
    await index.reload(job_id, who)
    return JobStatusPublic(job_id=job_id, status=status)


@router.post("/{job_id}/retry", status_code=202, response_model=JobPublic,
             responses={**NOT_FOUND, 409: {"description": "Not retryable, limit reached, or too soon (Retry-After)."}})
async def retry_job(job_id: str, response: Response, client: Prefect, poller: Events, index: Index, who: Who,
                    correlation_id: Correlation) -> JobPublic:
    """Start the next attempt of a failed or cancelled job; it resumes after the last completed stage."""
    poller.saw_run(await jobs.retry(client, job_id, who, correlation_id=correlation_id))
    response.headers["Location"] = f"/api/jobs/{job_id}"
    return job_body(await index.reload(job_id, who), client, poller)
