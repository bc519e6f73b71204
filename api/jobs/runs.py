"""Jobs as Prefect keeps them: reading a job's flow runs and their artifacts.

A job is the set of flow runs of the `generate-video` deployment (or an owner's copy
of it, `api.jobs.owner_deployments`) tagged `aura-job:<jobId>`, one per attempt; the newest attempt also carries the tag
`aura-latest`, which is what job lists page over. The tag `aura-owner:<owner>`
says whose it is: a caller who may not see the owner's jobs is told the job
does not exist. The request, attempt number, priority and correlation id are
the flow run's parameters; the job's status is a mapping of the newest attempt's
Prefect state; progress and the failure are artifacts of that run
(`flows.contract.artifacts`).
"""

from dataclasses import dataclass
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
from prefect.client.schemas.objects import Artifact, FlowRun
from prefect.client.schemas.responses import DeploymentResponse
from prefect.client.schemas.sorting import ArtifactSort, FlowRunSort
from prefect.exceptions import ObjectNotFound

from api.jobs.errors import JobNotFound, NotDeployed
from api.keys import Caller
from api.prefect_client import PAGE, read_all
from api.readiness import HOW_TO_PROVISION
from api.schemas.jobs import QueueStats
from api.settings import settings
from flows.contract.deployments import VIDEO_DEPLOYMENT, VIDEO_FLOW
from flows.contract.layout import JOB_ID_PATTERN
from flows.contract.status import LATEST_TAG, STATES_OF_STATUS, job_id_of, job_tag, owner_of, owner_tag


def attempt_of(run: FlowRun) -> int:
    attempt: int = run.parameters.get("attempt", 1)
    return attempt


def check_job_id(job_id: str) -> None:
    if not JOB_ID_PATTERN.match(job_id):
        raise JobNotFound(job_id)


def prefect_ui(client: PrefectClient) -> str:
    """Base URL of the Prefect UI, for links: `AURA_PREFECT_UI_URL`, else the API's address."""
    return (settings.prefect_ui_url or str(client.api_url).rstrip("/").removesuffix("/api")).rstrip("/")


@dataclass
class JobRuns:
    """Every attempt of one job, oldest first, and what Prefect holds about the newest."""

    attempts: list[FlowRun]
    artifacts: list[Artifact]

    @property
    def latest(self) -> FlowRun:
        return self.attempts[-1]

    @property
    def job_id(self) -> str:
        return job_id_of(self.latest)

    def latest_artifacts(self) -> list[Artifact]:
        return [artifact for artifact in self.artifacts if artifact.flow_run_id == self.latest.id]


async def read_deployment(client: PrefectClient, name: str = VIDEO_DEPLOYMENT) -> DeploymentResponse:
    try:
        return await client.read_deployment_by_name(name)
    except ObjectNotFound as exc:
        raise NotDeployed(
            f"Prefect has no deployment {name!r}, so nothing was queued; {HOW_TO_PROVISION}, and /health lists "
            "what is missing"
        ) from exc


async def deployment_id(client: PrefectClient, name: str = VIDEO_DEPLOYMENT) -> UUID:
    return (await read_deployment(client, name)).id


async def read_job_runs(client: PrefectClient, job_id: str, who: Caller) -> JobRuns:
    """Every attempt of the job; `JobNotFound` if there is none, or if `who` may not see its owner's jobs."""
    check_job_id(job_id)
    attempts = await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[job_tag(job_id)])),
        sort=FlowRunSort.EXPECTED_START_TIME_ASC,
        limit=50,
    )
    if not attempts or not who.may_see(owner_of(attempts[-1].tags)):
        raise JobNotFound(job_id)
    attempts.sort(key=attempt_of)
    artifacts = await read_artifacts(client, [attempts[-1].id])
    return JobRuns(attempts=attempts, artifacts=artifacts)


async def read_artifacts(client: PrefectClient, flow_run_ids: list[UUID]) -> list[Artifact]:
    """Progress and failure artifacts of many flow runs in one query, oldest first."""
    if not flow_run_ids:
        return []
    artifacts = await client.read_artifacts(
        artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=flow_run_ids)),
        sort=ArtifactSort.CREATED_DESC,
        limit=200,
    )
    return list(reversed(artifacts))


def latest_filter(statuses: list[str] | None, tags: list[str]) -> FlowRunFilter:
    """Newest attempts with all of `tags`, in any of `statuses` (all when none)."""
    filters: dict[str, Any] = {"tags": FlowRunFilterTags(all_=[LATEST_TAG, *tags])}
    if statuses:
        filters["state"] = {
            "type": FlowRunFilterStateType(any_=[state for status in statuses for state in STATES_OF_STATUS[status]])
        }
    return FlowRunFilter(**filters)


def visible_tags(who: Caller) -> list[str]:
    return [] if who.admin else [owner_tag(who.owner)]


def deployment_filter() -> DeploymentFilter:
    """Runs of the video deployment and of its copies for capped owners (`api.jobs.owner_deployments`)."""
    return DeploymentFilter(name=DeploymentFilterName(like_=VIDEO_FLOW))


async def list_jobs(
    client: PrefectClient, who: Caller, *, statuses: list[str] | None, limit: int, offset: int
) -> tuple[list[JobRuns], int]:
    """One page of the jobs `who` may see (newest attempt first) and how many match, in four Prefect queries."""
    latest = latest_filter(statuses, visible_tags(who))
    runs = await client.read_flow_runs(
        flow_run_filter=latest,
        deployment_filter=deployment_filter(),
        sort=FlowRunSort.EXPECTED_START_TIME_DESC,
        limit=limit,
        offset=offset,
    )
    total = await client.count_flow_runs(flow_run_filter=latest, deployment_filter=deployment_filter())
    artifacts = await read_artifacts(client, [run.id for run in runs])
    earlier = await earlier_attempts(client, [run for run in runs if attempt_of(run) > 1])
    page = [
        JobRuns(
            attempts=[*earlier.get(job_id_of(run), []), run],
            artifacts=[a for a in artifacts if a.flow_run_id == run.id],
        )
        for run in runs
    ]
    return page, total


async def earlier_attempts(client: PrefectClient, retried: list[FlowRun]) -> dict[str, list[FlowRun]]:
    """Earlier attempts of retried jobs, oldest first (they give `createdAt`): one query per page."""
    if not retried:
        return {}
    attempts_of = FlowRunFilter(tags=FlowRunFilterTags(any_=[job_tag(job_id_of(run)) for run in retried]))
    found = await read_all(
        lambda offset: client.read_flow_runs(
            flow_run_filter=attempts_of, sort=FlowRunSort.ID_DESC, limit=PAGE, offset=offset
        )
    )
    newest = {run.id for run in retried}
    earlier: dict[str, list[FlowRun]] = {}
    for run in found:
        if run.id not in newest:
            earlier.setdefault(job_id_of(run), []).append(run)
    for attempts in earlier.values():
        attempts.sort(key=attempt_of)
    return earlier


async def queue_stats(client: PrefectClient, who: Caller) -> QueueStats:
    """Counts of the jobs `who` may see, by status."""
    counts = {
        status: await client.count_flow_runs(flow_run_filter=latest_filter([status], visible_tags(who)))
        for status in ("queued", "running", "cancelling", "completed", "failed", "cancelled")
    }
    running = counts.pop("running") + counts.pop("cancelling")
    return QueueStats(total=running + sum(counts.values()), running=running, **counts)
