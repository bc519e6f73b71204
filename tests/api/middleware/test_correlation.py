"""Correlation ids: a good `X-Correlation-ID` is honoured and echoed, anything else is replaced by a new one."""

import re

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from api import problems
from api.jobs.errors import JobNotFound
from api.middleware import correlation
from api.middleware.correlation import CorrelationMiddleware

MADE = re.compile(r"^[0-9a-f]{32}$")


def app() -> TestClient:
    made = FastAPI()
    problems.install(made)

    @made.get("/seen")
    async def seen(request: Request) -> dict[str, str]:
        return {"state": correlation.correlation_id(request), "context": correlation.current.get()}

    @made.get("/missing")
    async def missing() -> None:
        raise JobNotFound("job-1")

    made.add_middleware(CorrelationMiddleware)
    return TestClient(made)


def test_a_given_id_reaches_the_handler_and_comes_back() -> None:
    answer = app().get("/seen", headers={"X-Correlation-ID": "web-7f3a:retry.2_b"})
    assert answer.headers["x-correlation-id"] == "web-7f3a:retry.2_b"
    assert answer.json() == {"state": "web-7f3a:retry.2_b", "context": "web-7f3a:retry.2_b"}


def test_an_error_answer_carries_the_id_in_header_and_body() -> None:
    answer = app().get("/missing", headers={"X-Correlation-ID": "req-1"})
    assert answer.status_code == 404
    assert answer.headers["x-correlation-id"] == "req-1" and answer.json()["correlationId"] == "req-1"


def test_without_an_id_one_is_made_per_request() -> None:
    client = app()
    first, second = client.get("/seen"), client.get("/seen")
    assert MADE.match(first.headers["x-correlation-id"])
    assert first.json()["state"] == first.headers["x-correlation-id"]
    assert first.headers["x-correlation-id"] != second.headers["x-correlation-id"]


@pytest.mark.parametrize("given", ["", "has space", "semi;colon", "<script>", "x" * 129, "naïve"])
def test_an_id_that_could_spoil_a_log_line_is_replaced(given: str) -> None:
    answer = app().get("/seen", headers={"X-Correlation-ID": given.encode()})
    made = answer.headers["x-correlation-id"]
    assert MADE.match(made) and answer.json()["state"] == made


def test_the_id_does_not_leak_into_the_next_request() -> None:
    client = app()
    client.get("/seen", headers={"X-Correlation-ID": "first"})
    assert correlation.current.get() == ""
    assert client.get("/seen").json()["context"] != "first"
