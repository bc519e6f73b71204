"""`AURA_MAX_RUNNING_PER_OWNER`: each owner's jobs run from a deployment of their own, limited by Prefect.

Prefect enforces a deployment's concurrency limit on its server, when a worker proposes to start
a run: past the limit, the run waits in the `AwaitingConcurrencySlot` state and is offered again
a few seconds later (`PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS`), and the worker
takes another job meanwhile. So the cap holds across every worker and API process, and across
restarts, with no state of ours. An owner's deployment is a copy of `generate-video/generate-video`
named `generate-video-owner-<digest of the owner>`, made on the owner's first job after an API
process starts (and made again from the base deployment then, so it follows a redeploy), and
made again if an operator deleted it.

Without a cap, every job runs from the base deployment.
"""

import hashlib
from collections.abc import Awaitable, Callable
from typing import TypeVar
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import ConcurrencyLimitStrategy, ConcurrencyOptions
from prefect.exceptions import PrefectHTTPStatusError

from api.jobs.runs import deployment_id, read_deployment
from api.settings import settings
from flows.contract.deployments import VIDEO_FLOW

_made: dict[tuple[str, int], UUID] = {}
T = TypeVar("T")


def owner_deployment_name(owner: str) -> str:
    return f"{VIDEO_FLOW}-owner-{hashlib.sha256(owner.encode()).hexdigest()[:16]}"


async def video_deployment_id(client: PrefectClient, owner: str) -> UUID:
    """The deployment the owner's next job runs from."""
    cap = settings.max_running_per_owner
    if cap is None:
        return await deployment_id(client)
    if (owner, cap) not in _made:
        base = await read_deployment(client)
        # Prefect's create is an upsert by flow and name: a copy that exists takes the base's fields and this cap.
        _made[owner, cap] = await client.create_deployment(
            flow_id=base.flow_id,
            name=owner_deployment_name(owner),
            version=base.version,
            description=f"The jobs of one owner, at most {cap} running at once (AURA_MAX_RUNNING_PER_OWNER).",
            concurrency_limit=cap,
            concurrency_options=ConcurrencyOptions(collision_strategy=ConcurrencyLimitStrategy.ENQUEUE),
            work_pool_name=base.work_pool_name,
            work_queue_name=base.work_queue_name,
            tags=base.tags,
            path=base.path,
            entrypoint=base.entrypoint,
            parameter_openapi_schema=base.parameter_openapi_schema,
            enforce_parameter_schema=base.enforce_parameter_schema,
            pull_steps=base.pull_steps,
            job_variables=base.job_variables,
        )
    return _made[owner, cap]


async def create_for_owner(client: PrefectClient, owner: str, create: Callable[[UUID], Awaitable[T]]) -> T:
    """`create(id of the owner's deployment)`; once more on a new copy if the one this process knew is gone."""
    try:
        return await create(await video_deployment_id(client, owner))
    except PrefectHTTPStatusError as exc:
        cap = settings.max_running_per_owner
        if exc.response.status_code != 404 or cap is None or _made.pop((owner, cap), None) is None:
            raise
    return await create(await video_deployment_id(client, owner))
