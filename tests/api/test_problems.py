"""Every error answer is an RFC 7807 problem, with the status its kind of error gets (in-process)."""

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prefect.exceptions import PrefectHTTPStatusError
from pydantic import BaseModel, Field

from api import problems
from api.jobs.errors import (
    JobEnded,
    JobError,
    JobNotFound,
    NotDeployed,
    NotRetryable,
    OutputNotFound,
    QueueFull,
    RetryBackoff,
    RetryLimit,
)
from api.middleware.body_limit import BodyLimitMiddleware
from api.middleware.correlation import CorrelationMiddleware
from api.prefect_client import PrefectUnreachable
from flows.contract.errors import InvalidRequest

PROBLEM_FIELDS = {"type", "title", "status", "detail", "instance", "correlationId", "code"}


class Thing(BaseModel):
    name: str = Field(min_length=1)
    size: int = Field(ge=1)


def prefect_status(status: int) -> PrefectHTTPStatusError:
    request = httpx.Request("POST", "http://prefect.test/api/flow_runs/filter")
    return PrefectHTTPStatusError(f"{status}", request=request, response=httpx.Response(status, request=request))


def app_raising(error: BaseException) -> FastAPI:
    """An app wired like `create_app` (problems, body limit, correlation) whose routes raise `error`."""
    app = FastAPI()
    problems.install(app)

    @app.get("/fail")
    async def fail() -> None:
        raise error

    @app.post("/things")
    async def create(thing: Thing) -> Thing:
        return thing

    app.add_middleware(BodyLimitMiddleware, max_bytes=1000)
    app.add_middleware(CorrelationMiddleware)
    return app


def assert_problem(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = answer.json()
    assert PROBLEM_FIELDS <= set(problem)
    assert problem["status"] == status and problem["code"] == code
    assert problem["type"] == f"https://aura.dev/problems/{code}"
    assert problem["correlationId"] and problem["instance"] == answer.request.url.path
    return problem


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (JobNotFound("job-1"), 404, "E404-NOT_FOUND"),
        (OutputNotFound("video.mkv"), 404, "E404-NOT_FOUND"),
        (JobEnded("job job-1 is completed; nothing to cancel"), 409, "E409-JOB_ENDED"),
        (NotRetryable("job job-1 is running"), 409, "E409-NOT_RETRYABLE"),
        (RetryLimit("job job-1 was retried 3 times"), 409, "E409-RETRY_LIMIT"),
        (QueueFull("your queue holds 2 jobs", retry_after=30), 429, "E429-QUEUE_FULL"),
        (NotDeployed("Prefect has no deployment 'generate-video/generate-video'"), 503, "E503-NOT_DEPLOYED"),
    ],
)
def test_a_job_error_is_answered_with_its_status_and_message(error: JobError, status: int, code: str) -> None:
    answer = TestClient(app_raising(error)).get("/fail")
    problem = assert_problem(answer, status, code)
    assert problem["detail"] == error.message and problem["title"] == error.title
    assert problem.get("suggestedActions", []) == list(error.suggested_actions)


def test_a_retry_too_soon_is_409_with_retry_after_and_what_to_do() -> None:
    error = RetryBackoff("retry 2 of job job-1 may start in 7 s", retry_after=7, suggested_actions=("Wait 7 s.",))
    answer = TestClient(app_raising(error)).get("/fail")
    problem = assert_problem(answer, 409, "E409-RETRY_BACKOFF")
    assert answer.headers["retry-after"] == "7"
    assert problem["suggestedActions"] == ["Wait 7 s."]


def test_a_full_queue_says_when_to_come_back() -> None:
    answer = TestClient(app_raising(QueueFull("full", retry_after=30))).get("/fail")
    assert_problem(answer, 429, "E429-QUEUE_FULL")
    assert answer.headers["retry-after"] == "30"


def test_a_conflict_without_a_wait_has_no_retry_after() -> None:
    answer = TestClient(app_raising(JobEnded("ended"))).get("/fail")
    assert_problem(answer, 409, "E409-JOB_ENDED")
    assert "retry-after" not in answer.headers


def test_an_invalid_request_from_the_pipeline_check_is_422_naming_the_field() -> None:
    error = InvalidRequest("voice.name: no eSpeak NG voice 'klingon'")
    problem = assert_problem(TestClient(app_raising(error)).get("/fail"), 422, "E400-VALIDATION")
    assert problem["detail"] == "voice.name: no eSpeak NG voice 'klingon'"
    assert problem["suggestedActions"] == list(InvalidRequest.suggested_actions)


def test_a_body_that_fails_validation_is_422_listing_each_field() -> None:
    answer = TestClient(app_raising(RuntimeError())).post("/things", json={"name": "", "size": 0})
    problem = assert_problem(answer, 422, "E400-VALIDATION")
    assert {error["field"] for error in problem["errors"]} == {"name", "size"}
    assert "name:" in problem["detail"] and "size:" in problem["detail"]


def test_a_body_that_is_not_json_is_422_naming_the_body() -> None:
    answer = TestClient(app_raising(RuntimeError())).post(
        "/things", content=b'{"name": "x"', headers={"content-type": "application/json"}
    )
    problem = assert_problem(answer, 422, "E400-VALIDATION")
    assert [error["field"] for error in problem["errors"]] == ["body"]


def test_a_body_that_is_json_but_not_an_object_is_422_naming_the_body() -> None:
    answer = TestClient(app_raising(RuntimeError())).post("/things", json=[1, 2])
    problem = assert_problem(answer, 422, "E400-VALIDATION")
    assert [error["field"] for error in problem["errors"]] == ["body"]


@pytest.mark.parametrize(
    "error",
    [
        PrefectUnreachable("cannot connect to Prefect at 127.0.0.1:4200"),
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        prefect_status(503),
        prefect_status(500),
    ],
)
def test_prefect_not_answering_is_503_with_retry_after(error: Exception) -> None:
    answer = TestClient(app_raising(error)).get("/fail")
    problem = assert_problem(answer, 503, "E503-PREFECT_UNAVAILABLE")
    assert answer.headers["retry-after"] == "5"
    assert "not carried out" in problem["detail"]


def test_an_unknown_path_and_a_wrong_method_are_problems_too() -> None:
    client = TestClient(app_raising(RuntimeError()))
    assert_problem(client.get("/nowhere"), 404, "E404-NOT_FOUND")
    answer = client.delete("/fail")
    assert_problem(answer, 405, "E405-METHOD_NOT_ALLOWED")
    assert answer.headers["allow"] == "GET"


def test_a_bug_is_a_500_problem_that_names_the_request_and_hides_the_error(caplog: pytest.LogCaptureFixture) -> None:
    client = TestClient(app_raising(RuntimeError("secret internals")), raise_server_exceptions=False)
    answer = client.get("/fail", headers={"X-Correlation-ID": "bug-42"})
    problem = assert_problem(answer, 500, "E500-INTERNAL")
    assert "secret internals" not in answer.text
    assert problem["correlationId"] == "bug-42" and answer.headers["X-Correlation-ID"] == "bug-42"
    logged = next(record for record in caplog.records if "correlation bug-42" in record.getMessage())
    assert logged.exc_info and "secret internals" in str(logged.exc_info[1]), "the log holds the traceback"


def test_a_prefect_refusal_of_our_own_request_is_a_bug_not_a_503() -> None:
    client = TestClient(app_raising(prefect_status(422)), raise_server_exceptions=False)
    assert_problem(client.get("/fail"), 500, "E500-INTERNAL")
