"""The `sweep-webhooks` flow: every minute, a delivery run for each ended job whose webhook deliveries
are not settled and that no delivery run is working on.

Automations are how deliveries start; this is what makes their loss harmless. Prefect on SQLite
gives up on events its busy database would not take (they go to its dead-letter folder), and an
automation never hears of those; a server stopped between a state change and its automation is
another such gap. A job counts once it ended `webhook_sweep_after_seconds` ago, time enough for
its automation to have fired, and while its first delivery could still be tried (24 h).
"""

from datetime import UTC, datetime, timedelta

from prefect import flow, get_run_logger
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterEndTime,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import StateType

from api.jobs.runs import attempt_of, deployment_id
from api.prefect_client import PAGE, read_all
from api.settings import settings
from api.webhooks.attempts import read_settled
from api.webhooks.delivery import read_delivery_runs
from flows.contract.deployments import WEBHOOK_DEPLOYMENT
from flows.contract.status import LATEST_TAG, WEBHOOK_TAG, job_id_of

NOT_ENDED = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING]


@flow(name="sweep-webhooks", log_prints=False)
async def sweep_webhooks() -> int:
    """Start a delivery run for every ended job with a webhook whose deliveries are not settled; how many."""
    async with get_client() as client:
        unsettled = await _unsettled_jobs(client)
        busy = await _jobs_with_delivery_runs(client)
        started = 0
        now = datetime.now(UTC)
        # Once per attempt and quarter of an hour: a run that fails is tried again later, not every minute.
        quarter = f"{now:%Y%m%d%H}{now.minute // 15}"
        for job_id, attempt in unsettled.items():
            if job_id in busy:
                continue
            await client.create_flow_run_from_deployment(
                await deployment_id(client, WEBHOOK_DEPLOYMENT),
                parameters={"job_id": job_id, "restarts": 0},
                idempotency_key=f"webhook-sweep:{job_id}:{attempt}:{quarter}",
            )
            started += 1
    if started:
        get_run_logger().warning("started %d webhook delivery runs that no automation had started", started)
    return started


async def _unsettled_jobs(client: PrefectClient) -> dict[str, int]:
    """Newest attempts of jobs with a webhook that ended in the sweep's window, not settled: job → attempt."""
    now = datetime.now(UTC)
    window = FlowRunFilter(
        tags=FlowRunFilterTags(all_=[WEBHOOK_TAG, LATEST_TAG]),
        end_time=FlowRunFilterEndTime(
            after_=now - timedelta(seconds=settings.webhook_give_up_seconds),  # type: ignore[arg-type]
            before_=now - timedelta(seconds=settings.webhook_sweep_after_seconds),  # type: ignore[arg-type]
        ),
    )
    ended = await read_all(lambda offset: client.read_flow_runs(flow_run_filter=window, limit=PAGE, offset=offset))
    attempts = {job_id_of(run): attempt_of(run) for run in ended if run.state and run.state.is_final()}
    settled = await read_settled(client, list(attempts))
    return {job_id: attempt for job_id, attempt in attempts.items() if settled.get(job_id, 0) < attempt}


async def _jobs_with_delivery_runs(client: PrefectClient) -> set[str]:
    """Jobs a delivery run is waiting to run for, or running for (a retry scheduled for later included)."""
    active = await read_delivery_runs(client, NOT_ENDED)
    return {str(run.parameters.get("job_id")) for run in active}
