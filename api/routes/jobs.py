"""`/api/jobs`: create, read, list, follow, cancel and retry video jobs."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import FileResponse

from api.dependencies import Correlation, Service, Who
from api.schemas.jobs import JobCreated, JobPublic, JobsPublic, JobStatus, JobStatusPublic, LogsPublic, ProgressPublic
from api.schemas.problem import problem_responses
from flows.contract.request import VideoRequest

router = APIRouter(prefix="/api/jobs", tags=["jobs"])
# Every route may answer these: a missing key, a bad parameter, Prefect away.
COMMON = (401, 422, 503)
ONE_JOB = problem_responses(*COMMON, 404)


@router.post("", status_code=202, response_model=JobCreated, responses=problem_responses(*COMMON, 400, 413, 429))
async def create_job(
    body: VideoRequest, response: Response, service: Service, correlation_id: Correlation, who: Who
) -> JobCreated:
    """Queue a video job for the caller; it starts when a worker has a free slot, higher priority first."""
    created = await service.create(body, owner=who.owner, correlation_id=correlation_id)
    response.headers["Location"] = created.links.self
    return created


@router.get("", response_model=JobsPublic, responses=problem_responses(*COMMON))
async def list_jobs(
    service: Service,
    who: Who,
    status: Annotated[list[JobStatus] | None, Query(description="Only jobs in these states.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> JobsPublic:
    """The caller's jobs (an admin's: everyone's), newest first, with the count over all pages and the stats."""
    return await service.page(who, statuses=status, limit=limit, offset=offset)


@router.get("/{job_id}", response_model=JobPublic, responses=ONE_JOB)
async def read_job(job_id: str, service: Service, who: Who) -> JobPublic:
    """The job: status, stage, percent, timestamps, attempt, artifacts, and the error if it failed."""
    return await service.read(job_id, who)


@router.get("/{job_id}/progress", response_model=ProgressPublic, responses=ONE_JOB)
async def read_progress(job_id: str, service: Service, who: Who) -> ProgressPublic:
    """Where the job stands: stage, overall percent, elapsed time and estimate."""
    return await service.progress(job_id, who)


@router.get("/{job_id}/logs", response_model=LogsPublic, responses=ONE_JOB)
async def read_logs(
    job_id: str,
    service: Service,
    who: Who,
    after: Annotated[datetime | None, Query(description="Only lines after this time (ISO 8601).")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 200,
) -> LogsPublic:
    """Log lines of every attempt, oldest first, paged by time."""
    return await service.logs(job_id, who, after=after, limit=limit)


@router.get(
    "/{job_id}/artifacts/{name}",
    response_class=FileResponse,
    responses={
        200: {"description": "The file; Range requests answer 206.", "content": {"application/octet-stream": {}}},
        206: {"description": "Part of the file, for a Range request."},
        **problem_responses(*COMMON, 404, 416),
    },
)
async def download_artifact(job_id: str, name: str, service: Service, who: Who) -> FileResponse:
    """A finished job's output file, with HTTP Range support for seeking."""
    path, media_type = await service.output(job_id, name, who)
    return FileResponse(path, media_type=media_type, filename=name, content_disposition_type="inline")


@router.post(
    "/{job_id}/cancel", status_code=202, response_model=JobStatusPublic, responses=problem_responses(*COMMON, 404, 409)
)
async def cancel_job(job_id: str, service: Service, who: Who) -> JobStatusPublic:
    """Cancel: a queued job at once; a running one stops its stage and FFmpeg within a second."""
    return await service.cancel(job_id, who)


@router.post(
    "/{job_id}/retry", status_code=202, response_model=JobPublic, responses=problem_responses(*COMMON, 404, 409)
)
async def retry_job(
    job_id: str, response: Response, service: Service, who: Who, correlation_id: Correlation
) -> JobPublic:
    """Start the next attempt of a failed or cancelled job; it resumes after the last completed stage."""
    job = await service.retry(job_id, who, correlation_id=correlation_id)
    response.headers["Location"] = f"/api/jobs/{job_id}"
    return job
