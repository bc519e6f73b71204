"""The API's Prefect clients: when Prefect refuses connections, say so at once.

Prefect's client retries a refused connection (once it has connected before) five
times with waits of 2, 4, 8, 16 and 32 s: right for a flow run that must outlast
a server restart, a minute-long hang for someone waiting on the API. Here a
refused connection becomes `PrefectUnreachable`, which Prefect does not retry and
the API answers as a 503 problem. So does a load balancer's own answer that no
Prefect replica is there (a 502, 504, or a 503 that is not Prefect's), once a few
quick tries found none. A busy Prefect (its own 503, a slow answer) is still
retried as usual.
"""

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from uuid import UUID

import httpx
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.actions import DeploymentFlowRunCreate

# Prefect's own transport retries a failed connect this often, at once, before giving up.
CONNECT_RETRIES = 3
# A load balancer that answered for a replica it lost is asked this often more, this long apart: it
# sends the next request to a replica still up.
GATEWAY_RETRIES = 3
GATEWAY_RETRY_SECONDS = 0.2
# The most Prefect's API answers in one page (`PREFECT_API_DEFAULT_LIMIT`).
PAGE = 200
# A bulk create Prefect answered with runs it could not make is sent again this often, waiting about
# 0.2, 0.4 … 12.8 s (25 s in all at most). The waits are jittered: API processes that collided on
# SQLite's write lock and waited alike would collide again (a CI run saw six collisions in a row).
BULK_CREATE_TRIES = 8
BULK_CREATE_BACKOFF_SECONDS = 0.2
T = TypeVar("T")
log = logging.getLogger("aura.service")


class PrefectUnreachable(httpx.TransportError):
    """Nothing listens at the Prefect API's address."""


class _FailFast(httpx.AsyncHTTPTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        for _ in range(GATEWAY_RETRIES):
            response = await self._send(request)
            if not _from_gateway(response):
                return response
            await response.aclose()
            await asyncio.sleep(GATEWAY_RETRY_SECONDS)
        raise PrefectUnreachable(
            f"the load balancer at {request.url.netloc.decode()} has no Prefect replica to answer "
            f"(HTTP {response.status_code})",
            request=request,
        )

    async def _send(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except httpx.ConnectError as exc:
            raise PrefectUnreachable(
                f"cannot connect to Prefect at {request.url.netloc.decode()}: {exc}", request=request
            ) from exc


def _from_gateway(response: httpx.Response) -> bool:
    """A proxy's error page rather than Prefect's answer: Prefect answers JSON, even its own 503."""
    if response.status_code not in (502, 503, 504):
        return False
    return not response.headers.get("content-type", "").startswith("application/json")


def api_client(**httpx_settings: Any) -> PrefectClient:
    return get_client(httpx_settings={"transport": _FailFast(retries=CONNECT_RETRIES), **httpx_settings})


class RequestCounter:
    def __init__(self) -> None:
        self.count = 0

    async def __call__(self, request: httpx.Request) -> None:
        self.count += 1


def counting_client(counter: RequestCounter) -> PrefectClient:
    """A client of its own whose requests `counter` counts, so a loop's load on Prefect can be told apart."""
    return api_client(event_hooks={"request": [counter]})


async def read_all(read: Callable[[int], Awaitable[list[T]]]) -> list[T]:
    """Every page of a read, given a function reading `PAGE` records from an offset."""
    found: list[T] = []
    while True:
        page = await read(len(found))
        found.extend(page)
        if len(page) < PAGE:
            return found


SEND_AGAIN = "Send the request again with the same Idempotency-Key: no job is queued twice."


class PrefectBusy(Exception):
    """Prefect did not carry out a write in time: it could not store runs after a few tries (its SQLite
    database locked, say), or it took longer than the write deadline. `suggestion` says what to do."""

    def __init__(self, message: str, suggestion: str = SEND_AGAIN) -> None:
        super().__init__(message)
        self.suggestion = suggestion


# Writes answered as late and still under way: asyncio keeps only weak references to tasks.
_late_writes: set[asyncio.Task[Any]] = set()


async def in_time(work: Awaitable[T], seconds: float, busy: PrefectBusy) -> T:
    """`work`'s result, or `busy` raised once it has taken `seconds`.

    The work goes on to its end either way: cut off, a write could be left half made (a job queued
    but not yet in its owner's turn); finished late, it takes effect, as the caller was told it may.
    """
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.wait_for(asyncio.shield(task), seconds)
    except TimeoutError:
        _late_writes.add(task)
        task.add_done_callback(_finished_late)
        raise busy from None


def _finished_late(task: "asyncio.Task[Any]") -> None:
    _late_writes.discard(task)
    if task.cancelled():
        log.warning("a write answered as late was cancelled (the API process stopped)")
    elif (error := task.exception()) is not None:
        log.warning("a write answered as late failed: %r", error)
    else:
        log.info("a write answered as late took effect")


def jittered(delay: float) -> float:
    """Between half of `delay` and all of it, at random."""
    return delay / 2 + random.uniform(0, delay / 2)


async def create_flow_runs(
    client: PrefectClient, deployment_id: UUID, runs: list[DeploymentFlowRunCreate]
) -> list[UUID]:
    """Create flow runs of a deployment in one request and one database transaction, in order.

    Prefect's bulk route (at most 100 runs), which its Python client does not wrap. It reports a run
    it could not create, e.g. while SQLite is locked, in its answer instead of failing the request,
    so the whole request is sent again: every run must carry an idempotency key, so that the runs
    made the first time are handed back, not made twice. A key Prefect already held gives the id of
    the run it names.
    """
    body = [run.model_dump(mode="json", exclude_unset=True) for run in runs]
    for attempt in range(BULK_CREATE_TRIES):
        if attempt:
            await asyncio.sleep(jittered(BULK_CREATE_BACKOFF_SECONDS * 2 ** (attempt - 1)))
        response = await client._client.post(f"/deployments/{deployment_id}/create_flow_run/bulk", json=body)
        results: list[dict[str, Any]] = response.json()["results"]
        failed = [result["error"] for result in results if result["status"] != "CREATED"]
        if not failed:
            return [UUID(result["flow_run_id"]) for result in results]
    raise PrefectBusy(
        f"Prefect could not create {len(failed)} of {len(runs)} flow runs ({failed[0]}); "
        "some of the jobs may have been queued"
    )
