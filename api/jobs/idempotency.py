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


async def claim(client: PrefectClient, owner: str, key: str, *, now: datetime | None = None) -> Claim:
    """Follow the chain from the owner's key to the first Prefect key that is free or names a live run."""
    now = now or datetime.now(UTC)
    prefect_key = first_key(owner, key)
    while True:
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(idempotency_key=FlowRunFilterIdempotencyKey(any_=[prefect_key])), limit=1
        )
        if not runs:
            return Claim(prefect_key, None)
        if is_live(runs[0], now):
            return Claim(prefect_key, runs[0])
        prefect_key = next_key(prefect_key, runs[0])


def check_same_request(run: FlowRun, request: VideoRequest, label: str) -> None:
    """`KeyReused` unless the run was made from this request: a key names one request, not a slot for any.

    `label` names the key in the message, e.g. "the Idempotency-Key 'k1' (jobs.3)".
    """
    if run.parameters.get("request") != request.model_dump(mode="json", by_alias=True):
        raise KeyReused(
            f"{label} was used in the last 24 hours for job {run.parameters.get('job_id')} with another body"
        )
