"""Make a Prefect server ready for jobs: Block types, the work pools (videos with their priority
queues, webhook deliveries), the deployments of `flows/prefect.yaml`, the automation that fails
jobs whose worker died, and the automations that start webhook deliveries.

Any number of `aura serve`/`aura worker` processes may run it at the same instant (a process
manager starts replicas together): every step creates what is missing, reads back what another
process made meanwhile (a 409 from Prefect is that, not a failure), and updates what an older
version of the project made differently.
"""

from collections.abc import Callable
from datetime import timedelta

from prefect.blocks.core import Block
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.objects import StateType
from prefect.events.actions import ActionTypes, ChangeFlowRunState, RunDeployment
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound, PrefectHTTPStatusError

from api.readiness import (
    STUCK_PENDING_AUTOMATION,
    WEBHOOK_END_AUTOMATION,
    WEBHOOK_RESTART_AUTOMATION,
    WORKER_LOST_AUTOMATION,
)
from api.settings import settings
from api.supervisor import deployments
from blocks import PROVIDER_BLOCKS, EspeakVoice, PiperVoice, RuleScriptWriter, SlideVisuals
from flows.contract.deployments import PRIORITIES, WEBHOOK_DEPLOYMENT, queue_name
from flows.contract.status import DELIVERY_TAG, WEBHOOK_TAG

ENDED = {
    "prefect.flow-run.Completed",
    "prefect.flow-run.Failed",
    "prefect.flow-run.Cancelled",
    "prefect.flow-run.Crashed",
}
# A Block type registers its nested types, itself and its schema: a few things other processes may make first.
MAKE_TRIES = 10


DEFAULT_DOCUMENTS: dict[str, type[Block]] = {
    "offline": RuleScriptWriter,
    "default": EspeakVoice,
    "joe": PiperVoice,
    "slides": SlideVisuals,
}


def _made_or_found(make: Callable[[], object]) -> None:
    """`make()`, which reads before it creates each of several things; again while another process
    created one of them in between (Prefect's 409): the next call reads what that process made, so
    each try gets further, and there are fewer things than tries."""
    for _ in range(MAKE_TRIES - 1):
        try:
            make()
            return
        except ObjectAlreadyExists:
            continue
    make()


def register_blocks() -> None:
    """Register the Block types, and save default documents to copy and edit in the Prefect UI.

    A default document that exists is left as it is: operators edit them."""
    for block_types in PROVIDER_BLOCKS.values():
        for block_type in block_types:
            _made_or_found(block_type.register_type_and_schema)
    for name, block_type in DEFAULT_DOCUMENTS.items():
        try:
            block_type.load(name)
        except (ValueError, ObjectNotFound):
            try:
                block_type().save(name)
            except ValueError:
                pass  # Another process saved it in between ("a name that is already in use").


def create_work_pool() -> None:
    """The process work pools: videos, with one queue per priority (queue priority n serves jobs of
    priority n), and webhook deliveries, which never wait behind a video for a slot."""
    with get_client(sync_client=True) as client:
        for pool in (settings.work_pool, settings.webhook_pool):
            try:
                client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
            except ObjectAlreadyExists:
                pass
        existing = {queue.name: queue for queue in client.read_work_queues(work_pool_name=settings.work_pool)}
        for priority in PRIORITIES:
            name = queue_name(priority)
            if name not in existing:
                try:
                    client.create_work_queue(name=name, work_pool_name=settings.work_pool, priority=priority)
                    continue
                except ObjectAlreadyExists:
                    existing[name] = client.read_work_queue_by_name(name, work_pool_name=settings.work_pool)
            if existing[name].priority != priority:
                client.update_work_queue(existing[name].id, priority=priority)


def deploy() -> list[str]:
    """Apply `flows/prefect.yaml`; the deployments written (none when Prefect already had them)."""
    with get_client(sync_client=True) as client:
        return deployments.apply(client)


def create_worker_lost_automation() -> None:
    """Fail a running job whose flow run stops sending heartbeats (its worker or machine died).

    The window is the whole `worker_lost_seconds` after the last heartbeat: heartbeats come every
    30 s and a little late, so a window of one interval would fail healthy jobs.
    """
    within = timedelta(seconds=settings.worker_lost_seconds)
    ensure_automation(
        name=WORKER_LOST_AUTOMATION,
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={
                "prefect.flow-run.heartbeat",
                "prefect.flow-run.Completed",
                "prefect.flow-run.Failed",
                "prefect.flow-run.Cancelled",
                "prefect.flow-run.Crashed",
            },
            match={"prefect.resource.id": ["prefect.flow-run.*"]},
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=within,
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message=f"worker lost: no heartbeat for {settings.worker_lost_seconds:g} s",
            )
        ],
    )


def create_stuck_pending_automation() -> None:
    """Put back in its queue a run that stayed Pending: a worker stopped between taking it and starting
    its process leaves it so, and no worker takes a Pending run again.

    The action forces the state, so it must never reach a run its worker is still starting: Prefect's
    worker, meeting a run it holds as Scheduled again, stops with "this borrower is already holding one
    of this CapacityLimiter's tokens", and every run it had goes with it. So the window
    (`AURA_PENDING_LOST_SECONDS`, 300 s) leaves a busy worker minutes: one that took fifty runs at once
    on two cores needed 66 s to start one. (A worker stopped after saying it starts the process, in
    Prefect's Submitting state, leaves the run Pending too, so Submitting does not end the wait.)"""
    ensure_automation(
        name=STUCK_PENDING_AUTOMATION,
        trigger=EventTrigger(
            after={"prefect.flow-run.Pending"},
            expect={"prefect.flow-run.Running", "prefect.flow-run.Scheduled", "prefect.flow-run.Cancelling", *ENDED},
            match={"prefect.resource.id": ["prefect.flow-run.*"]},
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=settings.pending_lost_seconds),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.SCHEDULED,
                message=f"queued again: pending for {settings.pending_lost_seconds:g} s without starting",
            )
        ],
    )


def create_webhook_automations() -> None:
    """Start a `deliver-webhooks` run when a job with a webhook ends (a Crashed job included), and
    again when a delivery run dies. (A job whose webhook wants step events starts its own run as it
    starts: `flows.runtime.webhooks`.)"""
    with get_client(sync_client=True) as client:
        delivery = client.read_deployment_by_name(WEBHOOK_DEPLOYMENT).id
    for name, states, tag, parameters in (
        (WEBHOOK_END_AUTOMATION, ENDED, WEBHOOK_TAG, {"job_id": "{{ flow_run.parameters.job_id }}", "restarts": 0}),
        (
            WEBHOOK_RESTART_AUTOMATION,
            {"prefect.flow-run.Crashed", "prefect.flow-run.Failed"},
            DELIVERY_TAG,
            # In parentheses: Prefect renders `{{ x }}` as `{{ x | tojson }}`, and the filter binds tighter than +.
            {"job_id": "{{ flow_run.parameters.job_id }}", "restarts": "{{ (flow_run.parameters.restarts + 1) }}"},
        ),
    ):
        ensure_automation(
            name=name,
            trigger=EventTrigger(
                expect=states,
                match={"prefect.resource.id": "prefect.flow-run.*"},
                match_related={"prefect.resource.role": "tag", "prefect.resource.id": f"prefect.tag.{tag}"},
                posture=Posture.Reactive,
                threshold=1,
            ),
            actions=[RunDeployment(source="selected", deployment_id=delivery, parameters=parameters)],
        )


def ensure_automation(name: str, trigger: EventTrigger, actions: list[ActionTypes]) -> None:
    """Exactly one automation `name`, as given: made if missing, updated in place if it differs (a
    setting or a newer version of the project changed it).

    Automation names are not unique in Prefect, so two processes that both found none both make
    one. Each then keeps the one with the smallest id and deletes the others: whichever of them
    made its own last reads both, and every process picks the same survivor.
    """
    wanted = AutomationCore(name=name, trigger=trigger, actions=actions)
    with get_client(sync_client=True) as client:
        found = client.read_automations_by_name(name)
        if not found:
            client.create_automation(wanted)
            found = client.read_automations_by_name(name)
        keep, *extra = sorted(found, key=lambda automation: str(automation.id))
        for duplicate in extra:
            try:
                client.delete_automation(duplicate.id)
            except PrefectHTTPStatusError as exc:
                if exc.response.status_code != 404:  # another process deleted it first
                    raise
        if not _does_the_same(keep, wanted):
            # An automation an operator turned off stays off.
            client.update_automation(keep.id, wanted.model_copy(update={"enabled": keep.enabled}))


def _does_the_same(existing: AutomationCore, wanted: AutomationCore) -> bool:
    # Triggers get a new id each time they are made: compare what they do.
    same_trigger = existing.trigger.model_dump(exclude={"id"}) == wanted.trigger.model_dump(exclude={"id"})
    return same_trigger and existing.actions == wanted.actions


def prepare_prefect() -> None:
    register_blocks()
    create_work_pool()
    deploy()
    create_worker_lost_automation()
    create_stuck_pending_automation()
    create_webhook_automations()
