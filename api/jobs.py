"""Jobs as Prefect keeps them: nothing about a job lives only in this process.

A job is the set of flow runs of the `generate-video` deployment tagged
`aura-job:<jobId>`, one per attempt; the newest attempt also carries the tag
`aura-latest`, which is what job lists page over. The tag `aura-owner:<owner>`
says whose it is: a caller who may not see the owner's jobs gets a 404, as if the
job did not exist. The request, attempt number, priority and correlation id are
the flow run's parameters; the job's status is a mapping of the newest attempt's
Prefect state; progress and the failure detail are artifacts of that run. Which
stages a retry would reuse is read from the persisted stage results on the shared
storage root.
"""

import json
import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    DeploymentFilter,
    DeploymentFilterName,
    FlowRunFilter,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import Artifact, FlowRun, StateType
from prefect.client.schemas.sorting import ArtifactSort, FlowRunSort
from prefect.exceptions import ObjectNotFound
from prefect.states import Cancelled, Cancelling

from api.auth import Caller
from api.models import ArtifactPublic, ErrorPublic, JobPublic, QueueStats
from api.prefect_client import PAGE, read_all
from api.problems import Problem, not_found
from api.eta import EtaModel
from api.progress import stage_snapshot
from flows.job_status import (
    LATEST_TAG,
    STATES_OF_STATUS,
    JobStatus,
    job_id_of,
    job_tag,
    owner_of,
    owner_tag,
    queue_name,
    status_of,
)
from flows.pipeline import STAGES
from flows.reporting import ERROR_ARTIFACT_KEY
from flows.request import VideoRequest
from flows.settings import settings
from flows.storage import JOB_ID_PATTERN, job_folders, reusable_stages

DEPLOYMENT = "generate-video/generate-video"
ARTIFACT_TYPES = {
    "video.mp4": "video/mp4", "video.srt": "application/x-subrip", "thumbnail.jpg": "image/jpeg",
    "manifest.json": "application/json", "ffmpeg.log": "text/plain",
}
WORKER_LOST = "E309-WORKER_LOST"
# A queue slot opens when a job starts: with short jobs, within seconds; this is a polite first wait.
QUEUE_FULL_RETRY_SECONDS = 30


def check_job_id(job_id: str) -> None:
    if not JOB_ID_PATTERN.match(job_id):
        raise not_found("job", job_id)


def prefect_ui(client: PrefectClient) -> str:
    return (settings.prefect_ui_url or str(client.api_url).rstrip("/").removesuffix("/api")).rstrip("/")


@dataclass
class JobRuns:
    """Every attempt of one job, oldest first, and what Prefect holds about the newest."""

    attempts: list[FlowRun]
    artifacts: list[Artifact]

    @property
    def latest(self) -> FlowRun:
        return self.attempts[-1]


async def deployment_id(client: PrefectClient) -> UUID:
    try:
        deployment = await client.read_deployment_by_name(DEPLOYMENT)
    except ObjectNotFound as exc:
        raise Problem(503, "E503-NOT_DEPLOYED", "Service not set up",
                      f"Prefect has no deployment {DEPLOYMENT!r}; nothing was queued",
                      suggested_actions=["Start the service with `aura serve` or `aura worker`, "
                                         "or run `prefect deploy --all` in the project folder."]) from exc
    return deployment.id


async def submit(client: PrefectClient, request: VideoRequest, *, owner: str, correlation_id: str,
                 job_id: str | None = None, attempt: int = 1) -> FlowRun:
    """Start an attempt of a job as a flow run of the deployment; it waits in its priority's queue."""
    job_id = job_id or str(uuid.uuid4())
    return await client.create_flow_run_from_deployment(
        await deployment_id(client),
        parameters={"request": request.model_dump(mode="json", by_alias=True), "job_id": job_id, "attempt": attempt,
                    "correlation_id": correlation_id},
        tags=[job_tag(job_id), owner_tag(owner), LATEST_TAG],
        work_queue_name=queue_name(request.priority),
    )


async def check_queue_room(client: PrefectClient, owner: str) -> None:
    """429 when the owner, or everyone together, has as many queued jobs as allowed."""
    for limit, tags, whose in ((settings.max_queued_per_owner, [owner_tag(owner)], "your"),
                               (settings.max_queued_total, [], "the service's")):
        queued = await client.count_flow_runs(flow_run_filter=_latest_filter(["queued"], tags))
        if queued >= limit:
            raise Problem(429, "E429-QUEUE_FULL", "Too many queued jobs",
                          f"{whose} queue holds {queued} jobs, the most allowed is {limit}",
                          headers={"Retry-After": str(QUEUE_FULL_RETRY_SECONDS)},
                          suggested_actions=["Wait for queued jobs to start, or cancel some, then submit again."])


async def read_job_runs(client: PrefectClient, job_id: str, who: Caller) -> JobRuns:
    """Every attempt of the job; 404 if there is none, or if `who` may not see its owner's jobs."""
    check_job_id(job_id)
    attempts = await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[job_tag(job_id)])),
        sort=FlowRunSort.EXPECTED_START_TIME_ASC, limit=50,
    )
    if not attempts or not who.may_see(owner_of(attempts[-1].tags)):
        raise not_found("job", job_id)
    attempts.sort(key=lambda run: run.parameters.get("attempt", 1))
    artifacts = await read_artifacts(client, [attempts[-1].id])
    return JobRuns(attempts=attempts, artifacts=artifacts)


async def read_artifacts(client: PrefectClient, flow_run_ids: list[UUID]) -> list[Artifact]:
    """Progress and error artifacts of many flow runs in one query, oldest first."""
    if not flow_run_ids:
        return []
    artifacts = await client.read_artifacts(
        artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=flow_run_ids)),
        sort=ArtifactSort.CREATED_DESC, limit=200,
    )
    return list(reversed(artifacts))


def job_public(runs: JobRuns, *, ui: str, eta_model: EtaModel, live_eta: float | None = None) -> JobPublic:
    """The job body; `live_eta` is the event stream's estimate when this process streams the job."""
    latest = runs.latest
    status = status_of(latest)
    snapshot = stage_snapshot(artifact for artifact in runs.artifacts if artifact.flow_run_id == latest.id)
    percent = 100.0 if status == "completed" else snapshot.percent
    now = datetime.now(timezone.utc)
    ended_at = latest.end_time if status in ("completed", "failed", "cancelled") else None
    if status in ("failed", "cancelled") and ended_at is None and latest.state:
        ended_at = latest.state.timestamp
    elapsed = ((ended_at or now) - latest.start_time).total_seconds() if latest.start_time else None
    job_id = latest.parameters["job_id"]
    request = VideoRequest.model_validate(latest.parameters["request"])
    reusable = reusable_stages(job_id)
    last_completed = "finalize" if status == "completed" else (reusable[-1] if reusable else None)
    return JobPublic(
        job_id=job_id,
        status=status,
        stage=snapshot.stage,
        percent=round(percent, 2),
        eta_seconds=(live_eta if live_eta is not None else
                     eta_model.remaining(request, snapshot.stage, snapshot.stage_percent, elapsed or 0.0))
        if status == "running" else None,
        elapsed_seconds=round(elapsed, 3) if elapsed is not None else None,
        created_at=runs.attempts[0].created or now,
        started_at=latest.start_time,
        completed_at=ended_at if status == "completed" else None,
        cancelled_at=ended_at if status == "cancelled" else None,
        ended_at=ended_at,
        last_completed_stage=last_completed,
        can_resume=status in ("failed", "cancelled") and bool(reusable),
        attempt=latest.parameters.get("attempt", 1),
        priority=latest.parameters["request"].get("priority", 5),
        request=request,
        artifacts=list_outputs(job_id) if status == "completed" else [],
        error=error_of(latest, runs.artifacts) if status == "failed" else None,
        flow_run_id=str(latest.id),
        prefect_url=f"{ui}/runs/flow-run/{latest.id}",
        correlation_id=latest.parameters.get("correlation_id"),
    )


def error_of(flow_run: FlowRun, artifacts: list[Artifact]) -> ErrorPublic:
    for artifact in reversed(artifacts):
        if artifact.key == ERROR_ARTIFACT_KEY and artifact.flow_run_id == flow_run.id and artifact.description:
            return ErrorPublic.model_validate(json.loads(artifact.description))
    state = flow_run.state
    if state and state.type == StateType.CRASHED:
        detail = state.message or ""
        return ErrorPublic(
            code=WORKER_LOST, stage=None,
            message=detail if detail.startswith("worker lost") else
            f"worker lost: the process running this job ended unexpectedly ({detail})",
            suggested_actions=["Retry the job: it resumes from the last completed stage."], log_tail="",
        )
    return ErrorPublic(code="E500-INTERNAL", stage=None, message=(state.message if state else "") or "failed",
                       suggested_actions=["Read the flow run's logs in the Prefect UI."], log_tail="")


def list_outputs(job_id: str) -> list[ArtifactPublic]:
    folder = job_folders(job_id).outputs
    return [
        ArtifactPublic(name=name, type=media_type, size_bytes=(folder / name).stat().st_size,
                       url=f"/api/jobs/{job_id}/artifacts/{name}")
        for name, media_type in ARTIFACT_TYPES.items() if (folder / name).is_file()
    ]


def _latest_filter(statuses: list[str] | None, tags: list[str]) -> FlowRunFilter:
    filters: dict[str, Any] = {"tags": FlowRunFilterTags(all_=[LATEST_TAG, *tags])}
    if statuses:
        filters["state"] = {"type": FlowRunFilterStateType(
            any_=[state for status in statuses for state in STATES_OF_STATUS[status]]
        )}
    return FlowRunFilter(**filters)


def _visible_tags(who: Caller) -> list[str]:
    return [] if who.admin else [owner_tag(who.owner)]


def deployment_filter() -> DeploymentFilter:
    return DeploymentFilter(name=DeploymentFilterName(any_=[DEPLOYMENT.split("/")[1]]))


async def list_jobs(client: PrefectClient, who: Caller, *, statuses: list[str] | None, limit: int,
                    offset: int) -> tuple[list[JobRuns], int]:
    """One page of the jobs `who` may see (newest attempt first) and how many match, in four Prefect queries."""
    latest = _latest_filter(statuses, _visible_tags(who))
    runs = await client.read_flow_runs(flow_run_filter=latest, deployment_filter=deployment_filter(),
                                       sort=FlowRunSort.EXPECTED_START_TIME_DESC, limit=limit, offset=offset)
    total = await client.count_flow_runs(flow_run_filter=latest, deployment_filter=deployment_filter())
    artifacts = await read_artifacts(client, [run.id for run in runs])
    earlier = await earlier_attempts(client, [run for run in runs if run.parameters.get("attempt", 1) > 1])
    page = [JobRuns(attempts=[*earlier.get(job_id_of(run), []), run],
                    artifacts=[a for a in artifacts if a.flow_run_id == run.id]) for run in runs]
    return page, total


async def earlier_attempts(client: PrefectClient, retried: list[FlowRun]) -> dict[str, list[FlowRun]]:
    """Earlier attempts of retried jobs, oldest first (they give `createdAt`): one query per page."""
    if not retried:
        return {}
    attempts_of = FlowRunFilter(tags=FlowRunFilterTags(any_=[job_tag(job_id_of(run)) for run in retried]))
    found = await read_all(lambda offset: client.read_flow_runs(
        flow_run_filter=attempts_of, sort=FlowRunSort.ID_DESC, limit=PAGE, offset=offset))
    newest = {run.id for run in retried}
    earlier: dict[str, list[FlowRun]] = {}
    for run in found:
        if run.id not in newest:
            earlier.setdefault(job_id_of(run), []).append(run)
    for attempts in earlier.values():
        attempts.sort(key=lambda run: run.parameters.get("attempt", 1))
    return earlier


async def queue_stats(client: PrefectClient, who: Caller) -> QueueStats:
    """Counts of the jobs `who` may see, by status."""
    counts = {
        status: await client.count_flow_runs(flow_run_filter=_latest_filter([status], _visible_tags(who)))
        for status in ("queued", "running", "cancelling", "completed", "failed", "cancelled")
    }
    running = counts.pop("running") + counts.pop("cancelling")
    return QueueStats(total=running + sum(counts.values()), running=running, **counts)


async def cancel(client: PrefectClient, job_id: str, who: Caller) -> JobStatus:
    """Cancel a queued job at once; ask a running one to stop (it reports `cancelling`)."""
    latest = (await read_job_runs(client, job_id, who)).latest
    status = status_of(latest)
    if status in ("completed", "failed", "cancelled"):
        raise Problem(409, "E409-JOB_ENDED", "Job already ended", f"job {job_id} is {status}; nothing to cancel",
                      suggested_actions=["Retry the job instead, if it failed or was cancelled."])
    if status == "cancelling":
        return status
    if status == "queued":
        await client.set_flow_run_state(latest.id, Cancelled(message="cancelled while queued"), force=True)
        return "cancelled"
    await client.set_flow_run_state(latest.id, Cancelling(message="cancel requested through the API"), force=True)
    return "cancelling"


def retry_wait_seconds(retries_so_far: int, ended_at: datetime | None) -> float:
    """Seconds left before the next manual retry may start: the first is immediate, then 5 s × 2^n, capped."""
    if retries_so_far == 0 or ended_at is None:
        return 0.0
    delay = min(settings.manual_retry_cap_seconds, settings.manual_retry_base_seconds * 2**retries_so_far)
    waited = (datetime.now(timezone.utc) - ended_at).total_seconds()
    return max(0.0, delay - waited)


async def retry(client: PrefectClient, job_id: str, who: Caller, *, correlation_id: str) -> FlowRun:
    """Start the next attempt of a failed or cancelled job, for its owner; completed stages are reused."""
    runs = await read_job_runs(client, job_id, who)
    latest = runs.latest
    status = status_of(latest)
    if status not in ("failed", "cancelled"):
        raise Problem(409, "E409-NOT_RETRYABLE", "Job cannot be retried",
                      f"job {job_id} is {status}; only failed or cancelled jobs can be retried")
    attempt = latest.parameters.get("attempt", 1)
    retries_so_far = attempt - 1
    if retries_so_far >= settings.manual_retry_max:
        raise Problem(409, "E409-RETRY_LIMIT", "Retry limit reached",
                      f"job {job_id} was retried {retries_so_far} times; at most {settings.manual_retry_max}",
                      suggested_actions=["Submit a new job with the same request."])
    ended_at = latest.end_time or (latest.state.timestamp if latest.state else None)
    wait = retry_wait_seconds(retries_so_far, ended_at)
    if wait > 0:
        raise Problem(409, "E409-RETRY_BACKOFF", "Retry too soon",
                      f"retry {retries_so_far + 1} of job {job_id} may start in {math.ceil(wait)} s",
                      headers={"Retry-After": str(math.ceil(wait))},
                      suggested_actions=[f"Retry again after {math.ceil(wait)} seconds."])
    request = VideoRequest.model_validate(latest.parameters["request"])
    owner = owner_of(latest.tags) or who.owner
    new_run = await submit(client, request, owner=owner, correlation_id=correlation_id, job_id=job_id,
                           attempt=attempt + 1)
    await client.update_flow_run(latest.id, tags=[tag for tag in latest.tags if tag != LATEST_TAG])
    return new_run


def completed_steps(job: JobPublic) -> list[str]:
    if job.status == "completed":
        return list(STAGES)
    if job.last_completed_stage is None:
        return []
    return list(STAGES[: STAGES.index(job.last_completed_stage) + 1])

