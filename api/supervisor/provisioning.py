"""Make a Prefect server ready for jobs: Block types, the work pools (videos with their priority
queues, webhook deliveries), the deployments of `flows/prefect.yaml`, the automation that fails
jobs whose worker died, and the automations that start webhook deliveries.

Every step is idempotent, so any number of `aura serve`/`aura worker` processes can run it.
"""

import subprocess
from datetime import timedelta

from prefect.automations import Automation
from prefect.blocks.core import Block
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.objects import StateType
from prefect.events.actions import ActionTypes, ChangeFlowRunState, RunDeployment
from prefect.events.schemas.automations import EventTrigger, Posture
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

from api.settings import settings
from api.supervisor.interpreter import python_module
from blocks import PROVIDER_BLOCKS, EspeakVoice, PiperVoice, RuleScriptWriter, SlideVisuals
from flows.contract.deployments import ENTRYPOINT_ROOT, PREFECT_FILE, PRIORITIES, WEBHOOK_DEPLOYMENT, queue_name
from flows.contract.status import DELIVERY_TAG, WEBHOOK_TAG

WORKER_LOST_AUTOMATION = "aura: fail jobs whose worker is lost"
STUCK_PENDING_AUTOMATION = "aura: queue again runs a stopped worker left pending"
WEBHOOK_END_AUTOMATION = "aura: deliver webhooks when a job ends"
WEBHOOK_RESTART_AUTOMATION = "aura: start again webhook deliveries that died"
ENDED = {
    "prefect.flow-run.Completed",
    "prefect.flow-run.Failed",
    "prefect.flow-run.Cancelled",
    "prefect.flow-run.Crashed",
}
# Prefect accepts no heartbeat interval under 30 s.
HEARTBEAT_SECONDS = 30


DEFAULT_DOCUMENTS: dict[str, type[Block]] = {
    "offline": RuleScriptWriter,
    "default": EspeakVoice,
    "joe": PiperVoice,
    "slides": SlideVisuals,
}


def register_blocks() -> None:
    """Register the Block types, and save default documents to copy and edit in the Prefect UI."""
    for block_types in PROVIDER_BLOCKS.values():
        for block_type in block_types:
            block_type.register_type_and_schema()
    for name, block_type in DEFAULT_DOCUMENTS.items():
        try:
            block_type.load(name)
        except (ValueError, ObjectNotFound):
            block_type().save(name)


def create_work_pool() -> None:
    """The process work pools: videos, with one queue per priority (queue priority n serves jobs of
    priority n), and webhook deliveries, which never wait behind a video for a slot."""
    with get_client(sync_client=True) as client:
        for pool in (settings.work_pool, settings.webhook_pool):
            try:
                client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
            except ObjectAlreadyExists:
                pass
        existing = {queue.name for queue in client.read_work_queues(work_pool_name=settings.work_pool)}
        for priority in PRIORITIES:
            name = queue_name(priority)
            if name not in existing:
                client.create_work_queue(name=name, work_pool_name=settings.work_pool, priority=priority)


def deploy() -> None:
    """Apply `flows/prefect.yaml`, wherever the package is installed.

    Its entrypoints are relative to the folder that holds `flows` (the checkout, or
    `site-packages`), which Prefect records as the runs' working directory.
    """
    applied = subprocess.run(
        # -P: the entrypoints' folder is the working directory; Prefect puts it on sys.path itself.
        python_module("prefect", "--no-prompt", "deploy", "--all", "--prefect-file", str(PREFECT_FILE)),
        cwd=ENTRYPOINT_ROOT,
        capture_output=True,
        text=True,
    )
    if applied.returncode != 0:
        # Prefect prints why on stdout (a missing work pool) or stderr (a traceback): show both's end.
        said = "\n".join(part.strip()[-2000:] for part in (applied.stdout, applied.stderr) if part.strip())
        raise RuntimeError(f"`prefect deploy` failed with exit code {applied.returncode}:\n{said}")


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
    its process leaves it so, and no worker takes a Pending run again."""
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
    """The automation `name` as given: made if missing, made again if it differs (settings changed)."""
    wanted = Automation(name=name, trigger=trigger, actions=actions)
    existing: Automation | None
    try:
        # Typed as a coroutine (Prefect's overloads of read); called from sync code it returns the automation.
        existing = Automation.read(name=name)  # type: ignore[assignment]
    except (ValueError, ObjectNotFound):
        existing = None
    if existing is not None:
        # Triggers get a new id each time they are made: compare what they do.
        same_trigger = existing.trigger.model_dump(exclude={"id"}) == wanted.trigger.model_dump(exclude={"id"})
        if same_trigger and existing.actions == wanted.actions:
            return
        existing.delete()
    wanted.create()


def prepare_prefect() -> None:
    register_blocks()
    create_work_pool()
    deploy()
    create_worker_lost_automation()
    create_stuck_pending_automation()
    create_webhook_automations()
