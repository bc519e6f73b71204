"""The record of delivery attempts, kept in Prefect: one artifact per try, under the key `webhook-<jobId>`,
and one under `webhook-settled-<jobId>` each time a run has sent everything up to an attempt's end.

Every API process reads the same record (`GET /api/jobs/{id}/webhooks`), and every delivery run
starts from it: an event is done once a try delivered it or gave up on it. The schedule of
retries is here too: 5 s after the first failed try, doubling to at most an hour, until the event
was first tried 24 h ago (all three configurable).
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import get_args
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import ArtifactCreate
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.client.schemas.objects import Artifact
from prefect.client.schemas.sorting import ArtifactSort

from api.prefect_client import PAGE, read_all
from api.schemas.webhooks import Outcome, WebhookAttempt
from api.settings import settings

SETTLED_TYPE = "markdown"
SETTLED_PREFIX = "webhook-settled-"


def attempt_type(outcome: Outcome) -> str:
    """A try's artifact type names its outcome, so that Prefect counts tries by outcome (`api.webhooks.tally`)."""
    return f"webhook-{outcome}"


ATTEMPT_TYPES = {attempt_type(outcome) for outcome in get_args(Outcome)}


def attempts_key(job_id: str) -> str:
    return f"webhook-{job_id}"


def settled_key(job_id: str) -> str:
    return SETTLED_PREFIX + job_id


@dataclass
class EventRecord:
    """What the tries of one event came to."""

    tries: int = 0
    first_at: datetime | None = None
    done: bool = False
    next_try_at: datetime | None = None  # of the last failed try


@dataclass
class Record:
    attempts: list[WebhookAttempt]
    events: dict[str, EventRecord] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for attempt in self.attempts:
            self._count(attempt)

    def add(self, attempt: WebhookAttempt) -> None:
        self.attempts.append(attempt)
        self._count(attempt)

    def of(self, event_id: str) -> EventRecord:
        return self.events.get(event_id, EventRecord())

    def next_try_at(self) -> datetime | None:
        """When the event waiting for a retry may be tried again, if one is waiting."""
        return max((event.next_try_at for event in self.events.values() if event.next_try_at), default=None)

    def _count(self, attempt: WebhookAttempt) -> None:
        event = self.events.setdefault(attempt.event_id, EventRecord())
        event.tries = max(event.tries, attempt.try_number)
        event.first_at = min(event.first_at or attempt.at, attempt.at)
        event.done = event.done or attempt.outcome in ("delivered", "gave-up")
        if attempt.try_number == event.tries:
            event.next_try_at = None if event.done else attempt.next_try_at


def retry_delay(failed_tries: int) -> timedelta:
    """The wait after the `failed_tries`-th failed try: base, doubling, capped."""
    seconds = min(settings.webhook_retry_cap_seconds, settings.webhook_retry_base_seconds * 2 ** (failed_tries - 1))
    return timedelta(seconds=seconds)


def next_try(event: EventRecord, failed_at: datetime) -> datetime | None:
    """When to try again after a failed try, or None once the event has been tried for long enough."""
    first = event.first_at or failed_at
    at = failed_at + retry_delay(event.tries)
    return at if at - first <= timedelta(seconds=settings.webhook_give_up_seconds) else None


def _attempt_of(artifact: Artifact) -> WebhookAttempt | None:
    if artifact.type not in ATTEMPT_TYPES or not artifact.description:
        return None
    return WebhookAttempt.model_validate_json(artifact.description)


async def read_record(client: PrefectClient, job_id: str) -> Record:
    key = ArtifactFilter(key=ArtifactFilterKey(any_=[attempts_key(job_id)]))
    artifacts = await read_all(
        lambda offset: client.read_artifacts(
            artifact_filter=key, sort=ArtifactSort.CREATED_DESC, limit=PAGE, offset=offset
        )
    )
    attempts = [attempt for artifact in artifacts if (attempt := _attempt_of(artifact))]
    return Record(sorted(attempts, key=lambda attempt: (attempt.at, attempt.try_number)))


async def write_attempt(client: PrefectClient, job_id: str, attempt: WebhookAttempt, flow_run_id: UUID) -> None:
    status = attempt.status_code if attempt.status_code is not None else "no answer"
    summary = f"{attempt.event} {attempt.event_id} try {attempt.try_number}: {attempt.outcome} ({status})"
    await client.create_artifact(
        ArtifactCreate(
            key=attempts_key(job_id),
            type=attempt_type(attempt.outcome),
            data=summary,
            description=attempt.model_dump_json(),
            flow_run_id=flow_run_id,
        )
    )


async def write_settled(client: PrefectClient, job_id: str, job_attempt: int, flow_run_id: UUID) -> None:
    """Every event of the job up to the end of `job_attempt` was delivered or given up on."""
    await client.create_artifact(
        ArtifactCreate(
            key=settled_key(job_id),
            type=SETTLED_TYPE,
            data=f"webhook deliveries settled up to attempt {job_attempt}",
            description=str(job_attempt),
            flow_run_id=flow_run_id,
        )
    )


async def read_settled(client: PrefectClient, job_ids: list[str]) -> dict[str, int]:
    """The last attempt each job's deliveries are settled for (jobs with none are left out)."""
    if not job_ids:
        return {}
    keys = ArtifactFilter(key=ArtifactFilterKey(any_=[settled_key(job_id) for job_id in job_ids]))
    artifacts = await read_all(lambda offset: client.read_artifacts(artifact_filter=keys, limit=PAGE, offset=offset))
    settled: dict[str, int] = {}
    for artifact in artifacts:
        if artifact.key and artifact.description and artifact.description.isdigit():
            job_id = artifact.key.removeprefix(SETTLED_PREFIX)
            settled[job_id] = max(settled.get(job_id, 0), int(artifact.description))
    return settled
