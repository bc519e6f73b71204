"""Bodies over the limit are refused with 413 before the app reads them, declared or chunked."""

from collections.abc import Iterator

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from api import problems
from api.middleware.body_limit import BodyLimitMiddleware
from api.middleware.correlation import CorrelationMiddleware

LIMIT = 100


def app(read: list[int]) -> TestClient:
    """An app whose route records the size of each body it got."""
    made = FastAPI()
    problems.install(made)

    @made.post("/upload")
    @made.get("/upload")
    async def upload(request: Request) -> dict[str, int]:
        read.append(len(await request.body()))
        return {"bytes": read[-1]}

    made.add_middleware(BodyLimitMiddleware, max_bytes=LIMIT)
    made.add_middleware(CorrelationMiddleware)
    return TestClient(made)


def chunks(count: int, size: int) -> Iterator[bytes]:
    for _ in range(count):
        yield b"x" * size


def test_a_declared_body_over_the_limit_is_413_and_the_app_never_runs() -> None:
    read: list[int] = []
    answer = app(read).post("/upload", content=b"x" * (LIMIT + 1), headers={"X-Correlation-ID": "big-1"})
    assert answer.status_code == 413
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["code"] == "E413-TOO_LARGE" and problem["correlationId"] == "big-1"
    assert problem["detail"] == f"the request body is {LIMIT + 1} bytes; at most {LIMIT} are accepted"
    assert answer.headers["x-correlation-id"] == "big-1"
    assert read == []


def test_a_body_at_the_limit_passes() -> None:
    read: list[int] = []
    assert app(read).post("/upload", content=b"x" * LIMIT).json() == {"bytes": LIMIT}


def test_a_chunked_body_over_the_limit_is_413_and_the_app_never_runs() -> None:
    read: list[int] = []
    answer = app(read).post("/upload", content=chunks(50, 30))
    assert answer.status_code == 413
    assert answer.json()["detail"] == f"the request body is over {LIMIT} bytes; at most {LIMIT} are accepted"
    assert read == []


@pytest.mark.anyio
async def test_reading_a_chunked_body_stops_at_the_limit() -> None:
    """Driven as ASGI, chunk by chunk: the TestClient would hand over the whole body at once."""
    received: list[Message] = []
    sent: list[Message] = []
    messages = [{"type": "http.request", "body": b"x" * 30, "more_body": True} for _ in range(50)]

    async def receive() -> Message:
        received.append(messages.pop(0))
        return received[-1]

    async def send(message: Message) -> None:
        sent.append(message)

    async def never(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("the app must not run")

    scope: Scope = {"type": "http", "method": "POST", "path": "/upload", "headers": [], "query_string": b""}
    await BodyLimitMiddleware(never, max_bytes=LIMIT)(scope, receive, send)
    assert sent[0]["status"] == 413
    assert len(received) == 4, "30 bytes a chunk: the fourth goes over 100"


def test_a_chunked_body_under_the_limit_reaches_the_app_whole() -> None:
    read: list[int] = []
    answer = app(read).post("/upload", content=chunks(3, 30))
    assert answer.status_code == 200 and read == [90]


def test_reads_are_not_limited() -> None:
    read: list[int] = []
    assert app(read).get("/upload").status_code == 200
