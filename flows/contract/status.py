"""How a job is found in Prefect and what its status is: shared by the API and the cleanup sweep.

Each attempt of a job is a flow run tagged `aura-job:<jobId>` and
`aura-owner:<owner>`; the newest attempt also carries `aura-latest`. A job's status maps its newest attempt's
Prefect state type.
"""

from typing import Literal

from prefect.client.schemas.objects import FlowRun, StateType

JobStatus = Literal["queued", "running", "cancelling", "completed", "failed", "cancelled"]
LATEST_TAG = "aura-latest"
JOB_TAG_PREFIX = "aura-job:"
OWNER_TAG_PREFIX = "aura-owner:"
# Jobs with a webhook: the delivery automation starts on their runs' final states.
WEBHOOK_TAG = "aura-webhook"
# The runs of the `deliver-webhooks` deployment (its tag in `flows/prefect.yaml`).
DELIVERY_TAG = "aura-delivery"
# A new job's run that is moved up to its owner's turn just after it is made (`api.jobs.fair_share`).
TURN_TAG = "aura-turn"
ACTIVE: frozenset[str] = frozenset({"queued", "running", "cancelling"})
STATUS_OF_STATE: dict[StateType, JobStatus] = {
    StateType.SCHEDULED: "queued",
    StateType.PENDING: "queued",
    StateType.RUNNING: "running",
    StateType.PAUSED: "running",
    StateType.CANCELLING: "cancelling",
    StateType.COMPLETED: "completed",
    StateType.FAILED: "failed",
    StateType.CRASHED: "failed",
    StateType.CANCELLED: "cancelled",
}
STATES_OF_STATUS: dict[str, list[StateType]] = {}
for _state, _status in STATUS_OF_STATE.items():
    STATES_OF_STATUS.setdefault(_status, []).append(_state)


def job_tag(job_id: str) -> str:
    return JOB_TAG_PREFIX + job_id


def owner_tag(owner: str) -> str:
    return OWNER_TAG_PREFIX + owner


def owner_of(tags: list[str]) -> str | None:
    return next((tag.removeprefix(OWNER_TAG_PREFIX) for tag in tags if tag.startswith(OWNER_TAG_PREFIX)), None)


def job_id_of(flow_run: FlowRun) -> str:
    job_id: str = flow_run.parameters["job_id"]
    return job_id


def status_of(flow_run: FlowRun) -> JobStatus:
    state_type = flow_run.state.type if flow_run.state else StateType.SCHEDULED
    return STATUS_OF_STATE[state_type]
