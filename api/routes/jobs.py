"""`/api/jobs`: create, read, list, follow, cancel and retry video jobs."""

import os
from datetime import datetime
from typing import Annotated

import anyio
from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from pydantic import ValidationError
from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from api.dependencies import Correlation, Service, Who
from api.schemas.batch import CSV_TYPE, BatchCreated, BatchRequest, read_batch
from api.schemas.briefs_csv import COLUMNS
from api.schemas.jobs import JobCreated, JobPublic, JobsPublic, JobStatus, JobStatusPublic, LogsPublic, ProgressPublic
from api.schemas.problem import COMPONENTS, problem_responses
from api.schemas.webhooks import WebhookAttempts
from flows.contract.layout import OUTPUT_TYPES
from flows.contract.request import VideoRequest

router = APIRouter(prefix="/api/jobs", tags=["jobs"])
# The statuses each kind of route can answer, besides its success. Every route here needs a key (401)
# and asks Prefect (503); one job's routes answer 404 for a job that is not there or not the caller's;
# POST routes pass the body limit (413) whether or not they read a body. A 422 comes only from
# parameters or a body that can be invalid, so only routes that have them declare it.
COMMON = (401, 503)
ONE_JOB = (*COMMON, 404)
CHANGE_JOB = (*ONE_JOB, 409, 413)
# Request bodies a route reads itself, for the OpenAPI document's components.
REQUEST_MODELS = (BatchRequest,)
CREATE = problem_responses(*COMMON, 400, 413, 422, 429)
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Send a request again with the same key (and body) within 24 hours and get the same "
        "job back, with 200, instead of a second one; the same key with another body is a 422.",
    ),
]


REPLAYED = "Sent again with its Idempotency-Key: what the first request was answered, nothing new queued."


@router.post(
    "",
    status_code=202,
    response_model=JobCreated,
    responses={200: {"model": JobCreated, "description": REPLAYED}, **CREATE},
)
async def create_job(
    body: VideoRequest,
    response: Response,
    service: Service,
    correlation_id: Correlation,
    who: Who,
    idempotency_key: IdempotencyKey = None,
) -> JobCreated:
    """Queue a video job for the caller; it starts when a worker has a free slot, higher priority first.

    With an `Idempotency-Key` this job already has, nothing is queued: the answer is 200 with the
    body the job was created with (its `links.self` tells where it stands now).
    """
    submitted = await service.create(
        body, owner=who.owner, correlation_id=correlation_id, idempotency_key=idempotency_key
    )
    response.headers["Location"] = submitted.created.links.self
    if submitted.replayed:
        response.status_code = 200
    return submitted.created


BATCH_DESCRIPTION = (
    'Queue up to 100 jobs in one request, in order: JSON `{"jobs": [create body, …]}`, or CSV.\n\n'
    "All or nothing: one invalid body and no job is queued; the 422 names it as `jobs.<index>.<field>`. "
    "A CSV (`Content-Type: text/csv`) has a header row and one video per row; its columns are "
    + ", ".join(f"`{column}`" for column in COLUMNS)
    + "; only `topic` is required. With an `Idempotency-Key`, a batch sent again queues none of its jobs "
    "twice (200 when none was new)."
)
BATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": COMPONENTS + BatchRequest.__name__}},
            CSV_TYPE: {
                "schema": {"type": "string"},
                "example": "topic,duration,aspect,priority\nWhy bees matter,60,16:9,5\nTides,90,9:16,3\n",
            },
        },
    }
}


@router.post(
    "/batch",
    status_code=202,
    response_model=BatchCreated,
    openapi_extra=BATCH_BODY,
    description=BATCH_DESCRIPTION,
    responses={200: {"model": BatchCreated, "description": REPLAYED}, **CREATE},
)
async def create_batch(
    request: Request,
    response: Response,
    service: Service,
    correlation_id: Correlation,
    who: Who,
    idempotency_key: IdempotencyKey = None,
) -> BatchCreated:
    """Queue up to 100 jobs in one request, in order, all or none (the OpenAPI text is `BATCH_DESCRIPTION`)."""
    try:
        batch = read_batch(await request.body(), request.headers.get("content-type", ""))
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from exc
    submitted = await service.create_batch(
        batch.jobs, owner=who.owner, correlation_id=correlation_id, idempotency_key=idempotency_key
    )
    if all(item.replayed for item in submitted):
        response.status_code = 200
    created = [item.created for item in submitted]
    return BatchCreated(job_ids=[job.job_id for job in created], jobs=created)


@router.get("", response_model=JobsPublic, responses=problem_responses(*COMMON, 422))
async def list_jobs(
    service: Service,
    who: Who,
    status: Annotated[list[JobStatus] | None, Query(description="Only jobs in these states.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> JobsPublic:
    """The caller's jobs (an admin's: everyone's), newest first, with the count over all pages and the stats."""
    return await service.page(who, statuses=status, limit=limit, offset=offset)


@router.get("/{job_id}", response_model=JobPublic, responses=problem_responses(*ONE_JOB))
async def read_job(job_id: str, service: Service, who: Who) -> JobPublic:
    """The job: status, stage, percent, timestamps, attempt, artifacts, and the error if it failed."""
    return await service.read(job_id, who)


@router.get("/{job_id}/progress", response_model=ProgressPublic, responses=problem_responses(*ONE_JOB))
async def read_progress(job_id: str, service: Service, who: Who) -> ProgressPublic:
    """Where the job stands: stage, overall percent, elapsed time and estimate."""
    return await service.progress(job_id, who)


@router.get("/{job_id}/logs", response_model=LogsPublic, responses=problem_responses(*ONE_JOB, 422))
async def read_logs(
    job_id: str,
    service: Service,
    who: Who,
    after: Annotated[datetime | None, Query(description="Only lines after this time (ISO 8601).")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 200,
) -> LogsPublic:
    """Log lines of every attempt, oldest first, paged by time."""
    return await service.logs(job_id, who, after=after, limit=limit)


@router.get("/{job_id}/webhooks", response_model=WebhookAttempts, responses=problem_responses(*ONE_JOB))
async def read_webhook_attempts(job_id: str, service: Service, who: Who) -> WebhookAttempts:
    """Every try of every webhook delivery of the job, oldest first: when, which event, the receiver's
    status and latency, and when a failed one is tried again."""
    return await service.webhook_attempts(job_id, who)


class ArtifactFile(FileResponse):
    """A file answer whose `Range` errors are problems like every other error, not Starlette's plain text.

    A `Range` the file cannot serve raises before anything is sent; `api.problems` answers 400 for a
    malformed one and 416 for one past the end, the statuses Starlette gives them.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        wanted, if_range = headers.get("range"), headers.get("if-range")
        if (
            wanted is not None
            and self.stat_result is not None
            and (if_range is None or self._should_use_range(if_range))
        ):
            self._parse_range_header(wanted, self.stat_result.st_size)
        await super().__call__(scope, receive, send)


# Each output's type; `multipart/byteranges` answers a Range of several parts.
FILE_CONTENT: dict[str, dict[str, object]] = {media_type: {} for media_type in sorted(set(OUTPUT_TYPES.values()))}


@router.get(
    "/{job_id}/artifacts/{name}",
    response_class=ArtifactFile,
    responses={
        200: {
            "description": "The file (`video.mp4`, `video.srt`, `thumbnail.jpg`, `manifest.json`, `ffmpeg.log`).",
            "content": FILE_CONTENT,
        },
        206: {
            "description": "Part of the file, for a Range request.",
            "content": {**FILE_CONTENT, "multipart/byteranges": {}},
        },
        **problem_responses(*ONE_JOB, 400, 416),
    },
)
async def download_artifact(job_id: str, name: str, service: Service, who: Who) -> FileResponse:
    """A finished job's output file, with HTTP Range support for seeking."""
    path, media_type = await service.output(job_id, name, who)
    stat = await anyio.to_thread.run_sync(os.stat, path)
    return ArtifactFile(path, media_type=media_type, filename=name, content_disposition_type="inline", stat_result=stat)


@router.post(
    "/{job_id}/cancel", status_code=202, response_model=JobStatusPublic, responses=problem_responses(*CHANGE_JOB)
)
async def cancel_job(job_id: str, service: Service, who: Who) -> JobStatusPublic:
    """Cancel: a queued job at once; a running one stops its stage and FFmpeg within a second."""
    return await service.cancel(job_id, who)


@router.post("/{job_id}/retry", status_code=202, response_model=JobPublic, responses=problem_responses(*CHANGE_JOB))
async def retry_job(
    job_id: str, response: Response, service: Service, who: Who, correlation_id: Correlation
) -> JobPublic:
    """Start the next attempt of a failed or cancelled job; it resumes after the last completed stage."""
    job = await service.retry(job_id, who, correlation_id=correlation_id)
    response.headers["Location"] = f"/api/jobs/{job_id}"
    return job
