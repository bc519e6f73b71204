"""Changing jobs in Prefect: queue new jobs, cancel, retry with the manual backoff."""

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import DeploymentFlowRunCreate
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import FlowRun
from prefect.states import Cancelled, Cancelling, Scheduled, to_state_create

from api.jobs.errors import JobEnded, NotRetryable, QueueFull, RetryBackoff, RetryLimit
from api.jobs.fair_share import SPACING, Queues
from api.jobs.idempotency import attempt_key
from api.jobs.owner_deployments import create_for_owner
from api.jobs.runs import attempt_of, latest_filter, read_job_runs
from api.keys import Caller
from api.prefect_client import create_flow_runs
from api.settings import settings
from flows.contract.deployments import queue_name
from flows.contract.request import VideoRequest
from flows.contract.status import (
    LATEST_TAG,
    TURN_TAG,
    WEBHOOK_TAG,
    JobStatus,
    job_id_of,
    job_tag,
    owner_of,
    owner_tag,
    status_of,
)

# A queue slot opens when a job starts: with short jobs, within seconds; this is a polite first wait.
QUEUE_FULL_RETRY_SECONDS = 30


@dataclass(frozen=True)
class NewJob:
    """A job to queue: its request, its id, and the Prefect idempotency key it claims (`api.jobs.idempotency`)."""

    request: VideoRequest
    job_id: str
    idempotency_key: str


def _attempt(
    request: VideoRequest, *, owner: str, correlation_id: str, job_id: str, attempt: int, moved: bool
) -> dict[str, Any]:
    """The flow run of one attempt of a job: parameters, tags, and its priority's work queue. A run that
    will be `moved` up to its owner's turn is tagged so: the jobs copies read it again until it has been."""
    return {
        "parameters": {
            "request": request.model_dump(mode="json", by_alias=True),
            "job_id": job_id,
            "attempt": attempt,
            "correlation_id": correlation_id,
        },
        "tags": [job_tag(job_id), owner_tag(owner), LATEST_TAG, *webhook_tags(request), *([TURN_TAG] if moved else [])],
        "work_queue_name": queue_name(request.priority),
    }


def webhook_tags(request: VideoRequest) -> list[str]:
    """The tag the delivery automation starts on (`api.supervisor.provisioning`)."""
    return [WEBHOOK_TAG] if request.webhook else []


async def submit(
    client: PrefectClient,
    request: VideoRequest,
    *,
    owner: str,
    correlation_id: str,
    job_id: str,
    attempt: int,
    queues: Queues,
) -> FlowRun:
    """Start a later attempt of a job as a flow run; it waits in its priority's queue, in its owner's turn."""
    now = datetime.now(UTC)
    [turn] = queues.place_all(owner, [request.priority], now)
    fields = _attempt(
        request, owner=owner, correlation_id=correlation_id, job_id=job_id, attempt=attempt, moved=turn < now
    )
    flow_run = await create_for_owner(
        client,
        owner,
        lambda deployment: client.create_flow_run_from_deployment(
            deployment, **fields, idempotency_key=attempt_key(job_id, attempt), state=Scheduled(scheduled_time=now)
        ),
    )
    if turn < now:
        await take_turn(client, flow_run.id, turn)
        return await client.read_flow_run(flow_run.id)
    return flow_run


async def submit_new(
    client: PrefectClient, jobs: list[NewJob], *, owner: str, correlation_id: str, queues: Queues
) -> list[FlowRun]:
    """Queue new jobs, in order, in one Prefect transaction (at most 100), each in its owner's turn.

    Each comes back as its flow run; a job whose idempotency key Prefect already held comes back as
    the run the key names, with that job's id, not the one asked for. Their scheduled times, `SPACING`
    apart, keep them in order in their queues whatever order Prefect stores them in.
    """
    if not jobs:
        return []
    now = datetime.now(UTC)
    submitted_at = [now + index * SPACING for index in range(len(jobs))]
    turns = queues.place_all(owner, [job.request.priority for job in jobs], now)
    creates = []
    for job, at, turn in zip(jobs, submitted_at, turns, strict=True):
        fields = _attempt(
            job.request, owner=owner, correlation_id=correlation_id, job_id=job.job_id, attempt=1, moved=turn < at
        )
        creates.append(
            DeploymentFlowRunCreate(
                **fields, idempotency_key=job.idempotency_key, state=to_state_create(Scheduled(scheduled_time=at))
            )
        )
    ids = await create_for_owner(client, owner, lambda deployment: create_flow_runs(client, deployment, creates))
    runs = await _read_runs(client, ids)
    moved = [
        (run_id, turn)
        for job, run_id, at, turn in zip(jobs, ids, submitted_at, turns, strict=True)
        # A run handed back for a key Prefect already held took its turn when it was made.
        if turn < at and job_id_of(runs[run_id]) == job.job_id
    ]
    for run_id, turn in moved:
        await take_turn(client, run_id, turn)
    if moved:
        runs = await _read_runs(client, ids)
    return [runs[run_id] for run_id in ids]


async def _read_runs(client: PrefectClient, ids: list[UUID]) -> dict[UUID, FlowRun]:
    return {
        run.id: run for run in await client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)))
    }


async def take_turn(client: PrefectClient, flow_run_id: UUID, turn: datetime) -> None:
    """Move a run made at its submit time up to its owner's turn (`api.jobs.fair_share`).

    The run is made first and moved after, so that its expected start time, which Prefect takes from
    its first state, stays the time it was submitted: the jobs copies find new runs by that time.
    """
    await client.set_flow_run_state(flow_run_id, Scheduled(scheduled_time=turn, message="moved up to its owner's turn"))


async def check_queue_room(client: PrefectClient, owner: str, adding: int = 1) -> None:
    """`QueueFull` unless the owner, and everyone together, have room for `adding` more queued jobs."""
    for limit, tags, whose in (
        (settings.max_queued_per_owner, [owner_tag(owner)], "your"),
        (settings.max_queued_total, [], "the service's"),
    ):
        queued = await client.count_flow_runs(flow_run_filter=latest_filter(["queued"], tags))
        if queued + adding > limit:
            raise QueueFull(
                f"{whose} queue holds {queued} jobs, the most allowed is {limit}"
                + (f"; the batch would add {adding}" if adding > 1 else ""),
                retry_after=QUEUE_FULL_RETRY_SECONDS,
            )


async def cancel(client: PrefectClient, job_id: str, who: Caller) -> tuple[JobStatus, UUID]:
    """Cancel a queued job at once; ask a running one to stop (it reports `cancelling`). Also says which run."""
    latest = (await read_job_runs(client, job_id, who)).latest
    status = status_of(latest)
    if status in ("completed", "failed", "cancelled"):
        raise JobEnded(f"job {job_id} is {status}; nothing to cancel")
    if status == "cancelling":
        return status, latest.id
    if status == "queued":
        await client.set_flow_run_state(latest.id, Cancelled(message="cancelled while queued"), force=True)
        return "cancelled", latest.id
    await client.set_flow_run_state(latest.id, Cancelling(message="cancel requested through the API"), force=True)
    return "cancelling", latest.id


def retry_wait_seconds(retries_so_far: int, ended_at: datetime | None, *, now: datetime | None = None) -> float:
    """Seconds left before the next manual retry may start: the first is immediate, then 5 s × 2^n, capped,
    counted from the end of the last attempt."""
    if retries_so_far == 0 or ended_at is None:
        return 0.0
    delay: float = min(settings.manual_retry_cap_seconds, settings.manual_retry_base_seconds * 2**retries_so_far)
    waited = ((now or datetime.now(UTC)) - ended_at).total_seconds()
    return max(0.0, delay - waited)


def check_retry(latest: FlowRun, job_id: str, *, now: datetime | None = None) -> None:
    """Refuse a retry the policy does not allow yet: wrong state, limit reached, or inside the backoff."""
    status = status_of(latest)
    if status not in ("failed", "cancelled"):
        raise NotRetryable(f"job {job_id} is {status}; only failed or cancelled jobs can be retried")
    retries_so_far = attempt_of(latest) - 1
    if retries_so_far >= settings.manual_retry_max:
        raise RetryLimit(f"job {job_id} was retried {retries_so_far} times; at most {settings.manual_retry_max}")
    ended_at = latest.end_time or (latest.state.timestamp if latest.state else None)
    wait = math.ceil(retry_wait_seconds(retries_so_far, ended_at, now=now))
    if wait > 0:
        raise RetryBackoff(
            f"retry {retries_so_far + 1} of job {job_id} may start in {wait} s",
            retry_after=wait,
            suggested_actions=(f"Retry again after {wait} seconds.",),
        )


async def retry(client: PrefectClient, job_id: str, who: Caller, *, correlation_id: str, queues: Queues) -> FlowRun:
    """Start the next attempt of a failed or cancelled job, for its owner; completed stages are reused."""
    latest = (await read_job_runs(client, job_id, who)).latest
    check_retry(latest, job_id)
    request = VideoRequest.model_validate(latest.parameters["request"])
    owner = owner_of(latest.tags) or who.owner
    new_run = await submit(
        client,
        request,
        owner=owner,
        correlation_id=correlation_id,
        job_id=job_id,
        attempt=attempt_of(latest) + 1,
        queues=queues,
    )
    await client.update_flow_run(latest.id, tags=[tag for tag in latest.tags if tag != LATEST_TAG])
    return new_run
