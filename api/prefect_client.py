"""The API's Prefect clients: when Prefect refuses connections, say so at once.

Prefect's client retries a refused connection (once it has connected before) five
times with waits of 2, 4, 8, 16 and 32 s: right for a flow run that must outlast
a server restart, a minute-long hang for someone waiting on the API. Here a
refused connection becomes `PrefectUnreachable`, which Prefect does not retry and
the API answers as a 503 problem. A busy Prefect (a 503, a slow answer) is still
retried as usual.
"""

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
from prefect.client.orchestration import PrefectClient, get_client

# Prefect's own transport retries a failed connect this often, at once, before giving up.
CONNECT_RETRIES = 3
# The most Prefect's API answers in one page (`PREFECT_API_DEFAULT_LIMIT`).
PAGE = 200
T = TypeVar("T")


class PrefectUnreachable(httpx.TransportError):
    """Nothing listens at the Prefect API's address."""


class _FailFast(httpx.AsyncHTTPTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except httpx.ConnectError as exc:
            raise PrefectUnreachable(
                f"cannot connect to Prefect at {request.url.netloc.decode()}: {exc}", request=request
            ) from exc


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
