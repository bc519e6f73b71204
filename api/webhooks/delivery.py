"""The `deliver-webhooks` flow: a job's webhook events, delivered at least once, in order.

Prefect starts a run of it (`api.supervisor.provisioning`'s automation) when a job with a webhook
ends, whatever way it ends (a lost worker's Crashed included); a job whose webhook wants step and
status events starts one itself as each attempt starts (`flows.runtime.webhooks`). A run reads
the job's events exactly as the SSE stream has them (`api.events.poller`), and sends each event
the webhook asked for that no try has delivered yet, oldest first, following the job until its
attempt's last event. When a try fails, the run schedules the next run of the deployment at the
retry time and ends: the pending retry is a scheduled flow run in Prefect's database, so it
survives any process restarting, and whichever worker is up runs it. A run that dies is started
again by another automation, and `api.webhooks.sweep` starts a run for any ended job whose
deliveries are not settled and that no run is working on (an automation that did not fire:
Prefect on SQLite drops some events when its database is too busy).
"""

import asyncio
import json
from datetime import UTC, datetime
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.context import get_run_context
from prefect.states import Scheduled

from api.events.poller import Poller
from api.events.timeline import Emitted, Timeline
from api.jobs.runs import deployment_id, read_job_runs
from api.keys import LOCAL
from api.prefect_client import PAGE, RequestCounter, read_all
from api.schemas.webhooks import WebhookAttempt
from api.settings import settings
from api.webhooks.attempts import EventRecord, Record, next_try, read_record, write_attempt, write_settled
from api.webhooks.secrets import read_secret
from api.webhooks.send import Sent, send
from flows.contract.deployments import WEBHOOK_DEPLOYMENT, deployment_name
from flows.contract.request import VideoRequest, Webhook
from flows.contract.status import owner_of

# A run that keeps dying is a defect to look at, not to start again forever.
MAX_RESTARTS = 5
EARLIER_RUN_POLL_SECONDS = 1.0
# Prefect starts a run scheduled less than this far ahead at once (it rounds the wait to whole seconds).
EARLY_START_SECONDS = 1.0
EPOCH = datetime.min.replace(tzinfo=UTC)


@flow(name="deliver-webhooks", log_prints=False)
async def deliver_webhooks(job_id: str, restarts: int = 0) -> None:
    """Deliver the job's due webhook events in order; follow the job while it runs; on a failed try,
    schedule the next run at the retry time."""
    logger = get_run_logger()
    if restarts > MAX_RESTARTS:
        logger.error("job %s: delivery stopped after %d restarts of its run", job_id, restarts)
        return
    this_run = get_run_context().flow_run.id  # type: ignore[union-attr]
    counter = RequestCounter()
    async with get_client(httpx_settings={"event_hooks": {"request": [counter]}}) as client:
        await _deliver(client, job_id, this_run)
    # What webhooks cost Prefect, beside the worker's own few requests per run (`bench/webhooks.py`).
    logger.info("job %s: this delivery run made %d Prefect requests", job_id, counter.count)


async def _deliver(client: PrefectClient, job_id: str, this_run: UUID) -> None:
    logger = get_run_logger()
    await _wait_for_earlier_runs(client, job_id, this_run)
    runs = await read_job_runs(client, job_id, LOCAL)
    webhook = VideoRequest.model_validate(runs.latest.parameters["request"]).webhook
    if webhook is None:
        return
    poller = Poller(client, RequestCounter())
    if webhook.live:
        # job-status events carry an ETA: the same learned one as the stream's.
        await poller.history.run_once()
    feed = await poller.watch(job_id)
    # Kept for the whole run, however long the job takes: nobody else watches it here.
    feed.idle_since = None
    owner = owner_of(runs.latest.tags) or LOCAL.owner
    # Read once: while this run works, no other run delivers this job's events.
    record = await read_record(client, job_id)
    if (retry_at := record.next_try_at()) is not None:
        wait = (retry_at - datetime.now(UTC)).total_seconds()
        if wait > EARLY_START_SECONDS:
            logger.info("job %s: a try is due at %s; the run scheduled then delivers", job_id, retry_at.isoformat())
            return
        # Prefect starts a scheduled run up to half a second early: the retry still waits its whole delay.
        await asyncio.sleep(max(0.0, wait))
    while True:
        failed = await _deliver_due(client, job_id, webhook, owner, feed.timeline, record, this_run)
        if failed is not None and failed.next_try_at is not None:
            await _schedule_retry(client, job_id, failed)
            logger.info(
                "job %s: %s try %d failed (%s); next try at %s",
                job_id,
                failed.event,
                failed.try_number,
                failed.error or failed.status_code,
                failed.next_try_at.isoformat(),
            )
            return
        if feed.timeline.ended:
            await write_settled(client, job_id, feed.timeline.latest_attempt, this_run)
            return
        await asyncio.sleep(settings.events_poll_seconds)
        await poller.tick()


async def _deliver_due(
    client: PrefectClient,
    job_id: str,
    webhook: Webhook,
    owner: str,
    timeline: Timeline,
    record: Record,
    this_run: UUID,
) -> WebhookAttempt | None:
    """Send every wanted event no try has delivered, in order; the failed try that stopped it, if one did."""
    for event in timeline.events:
        tried = record.of(str(event.id))
        if event.name not in webhook.events or tried.done:
            continue
        attempt = await _try(client, job_id, webhook, owner, event, tried)
        await write_attempt(client, job_id, attempt, this_run)
        record.add(attempt)
        if attempt.next_try_at is not None:
            return attempt
    return None


async def _try(
    client: PrefectClient, job_id: str, webhook: Webhook, owner: str, event: Emitted, tried: EventRecord
) -> WebhookAttempt:
    """One try of one event; a failed one says when the next is, or that there is none."""
    webhook_id = f"{job_id}-{event.id}"
    secret = await read_secret(client, owner)
    if secret is None:
        error = f"owner {owner!r} has no signing secret (POST /api/webhooks/secret makes one)"
        sent = Sent(at=datetime.now(UTC), status_code=None, latency_ms=None, error=error)
    else:
        sent = await send(
            webhook.url,
            payload_of(event),
            secret=secret,
            webhook_id=webhook_id,
            allow_private=settings.webhook_allow_private,
        )
    attempt = WebhookAttempt(
        event=event.name,
        event_id=str(event.id),
        webhook_id=webhook_id,
        job_attempt=event.attempt,
        try_number=tried.tries + 1,
        at=sent.at,
        url=webhook.url,
        outcome="delivered" if sent.delivered else ("refused" if sent.refused else "failed"),
        status_code=sent.status_code,
        latency_ms=sent.latency_ms,
        error=sent.error,
        response_body=sent.body,
    )
    if sent.delivered:
        return attempt
    # Counted from the failure's answer, not the try's start: the receiver sees at least the delay between tries.
    retry_at = next_try(EventRecord(tries=tried.tries + 1, first_at=tried.first_at or sent.at), datetime.now(UTC))
    if retry_at is None:
        return attempt.model_copy(update={"outcome": "gave-up"})
    return attempt.model_copy(update={"next_try_at": retry_at})


def payload_of(event: Emitted) -> str:
    """The SSE event's data, with its name, its id and the job's attempt."""
    data = json.loads(event.data_json)
    return json.dumps({**data, "event": event.name, "eventId": str(event.id), "attempt": event.attempt})


async def _wait_for_earlier_runs(client: PrefectClient, job_id: str, this_run: UUID) -> None:
    """One run delivers a job's events at a time: the one that started first. A later one (a duplicate
    trigger, the job's end while a run follows it) waits for it, then finds what is left, usually nothing.

    By start, not by creation: each run looks only once it runs itself, so of two runs the later starter
    always sees the earlier one running. A run made first but started second (its worker was slower)
    would see no earlier-made run and deliver beside the one already at work."""
    me = await client.read_flow_run(this_run)
    logger = get_run_logger()
    while True:
        # Not Pending: a run a stopped worker left pending must not hold up the rest.
        running = await read_delivery_runs(client, [StateType.RUNNING])
        earlier = [run for run in running if run.parameters.get("job_id") == job_id and started_before(run, me)]
        if not earlier:
            return
        logger.info("job %s: waiting for the delivery run %s, started before this one", job_id, earlier[0].name)
        await asyncio.sleep(EARLIER_RUN_POLL_SECONDS)


async def read_delivery_runs(client: PrefectClient, states: list[StateType]) -> list[FlowRun]:
    """The runs of the `deliver-webhooks` deployment in any of `states`, every page."""
    in_states = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=states)))
    deliveries = DeploymentFilter(name=DeploymentFilterName(any_=[deployment_name(WEBHOOK_DEPLOYMENT)]))
    return await read_all(
        lambda offset: client.read_flow_runs(
            flow_run_filter=in_states, deployment_filter=deliveries, limit=PAGE, offset=offset
        )
    )


def started_before(run: FlowRun, other: FlowRun) -> bool:
    return (run.start_time or EPOCH, str(run.id)) < (other.start_time or EPOCH, str(other.id))


async def _schedule_retry(client: PrefectClient, job_id: str, failed: WebhookAttempt) -> None:
    await client.create_flow_run_from_deployment(
        await deployment_id(client, WEBHOOK_DEPLOYMENT),
        parameters={"job_id": job_id, "restarts": 0},
        state=Scheduled(scheduled_time=failed.next_try_at),
        # Two runs that failed the same try at once schedule one retry.
        idempotency_key=f"webhook-retry:{failed.webhook_id}:{failed.try_number}",
    )
