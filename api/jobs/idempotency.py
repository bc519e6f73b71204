"""Idempotent submission: one job per owner and `Idempotency-Key` for 24 hours, kept by Prefect alone.

Prefect makes at most one flow run per flow and idempotency key, and its database's unique index
decides when two API processes race with the same key: both are handed the one run. The key given
to Prefect is a digest of the owner and the client's key, so two owners' keys never meet.

Prefect keeps a key as long as its run, longer than the 24 hours promised. A key used again after
them moves on along a chain: the next Prefect key is the digest of the expired one and its run's id,
which every process derives alike, so a race after expiry is decided the same way.
"""

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterIdempotencyKey
from prefect.client.schemas.objects import FlowRun

from api.jobs.errors import KeyReused
from flows.contract.request import VideoRequest

KEY_LIFETIME = timedelta(hours=24)
PREFIX = "aura-idempotency:"


def first_key(owner: str, key: str) -> str:
    return PREFIX + hashlib.sha256(f"{owner}\0{key}".encode()).hexdigest()


def next_key(expired: str, run: FlowRun) -> str:
    return PREFIX + hashlib.sha256(f"{expired}\0{run.id}".encode()).hexdigest()


def own_key(job_id: str) -> str:
    """The Prefect key of a job sent without one: Prefect's bulk create is retried whole, never twice over."""
    return f"{PREFIX}job:{job_id}"


def attempt_key(job_id: str, attempt: int) -> str:
    """The Prefect key of a job's later attempt: two retries sent at once (or one sent again after a
    late answer) start one attempt."""
    return f"{PREFIX}job:{job_id}:attempt:{attempt}"


def item_key(key: str, index: int) -> str:
    """The key of one job of a batch sent with `key`: a batch sent again makes none of its jobs twice."""
    return f"{key}\0batch\0{index}"


@dataclass(frozen=True)
class Claim:
    """The Prefect key a new job takes, and the job's first run if the key already names one."""

    prefect_key: str
    existing: FlowRun | None


def is_live(run: FlowRun, now: datetime) -> bool:
    created = run.created or run.expected_start_time
    return created is None or now - created < KEY_LIFETIME


async def claim_all(client: PrefectClient, owner: str, keys: list[str], *, now: datetime | None = None) -> list[Claim]:
    """For each of the owner's keys, the first Prefect key along its chain that is free or names a live run.

    One query for all the keys, and one more per step along a chain (a key reused after 24 hours).
    """
    now = now or datetime.now(UTC)
    prefect_keys = [first_key(owner, key) for key in keys]
    claims: dict[int, Claim] = {}
    while pending := [index for index in range(len(keys)) if index not in claims]:
        wanted = [prefect_keys[index] for index in pending]
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(idempotency_key=FlowRunFilterIdempotencyKey(any_=wanted)), limit=len(wanted)
        )
        held = {run.idempotency_key: run for run in runs}
        for index in pending:
            run = held.get(prefect_keys[index])
            if run is None or is_live(run, now):
                claims[index] = Claim(prefect_keys[index], run)
            else:
                prefect_keys[index] = next_key(prefect_keys[index], run)
    return [claims[index] for index in range(len(keys))]


def check_same_request(run: FlowRun, request: VideoRequest, label: str) -> None:
    """`KeyReused` unless the run was made from this request: a key names one request, not a slot for any.

    `label` names the key in the message, e.g. "the Idempotency-Key 'k1' (jobs.3)".
    """
    if run.parameters.get("request") != request.model_dump(mode="json", by_alias=True):
        raise KeyReused(
            f"{label} was used in the last 24 hours for job {run.parameters.get('job_id')} with another body"
        )
