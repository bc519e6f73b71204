"""Bad input gets an RFC 7807 problem, a 4xx, never a 500 and never a file outside the job's folder."""

import json
from typing import Any

import httpx
import pytest

from tests.utils.service import http

pytestmark = pytest.mark.slow
PROBLEM_FIELDS = {"type", "title", "status", "detail", "instance", "correlationId", "code"}
GOOD = {"brief": {"topic": "Bees"}, "plan": {"targetDurationSeconds": 6}, "render": {"width": 320}}


def assert_problem(answer: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert PROBLEM_FIELDS <= set(problem)
    assert problem["status"] == status and problem["correlationId"] == answer.headers["x-correlation-id"]
    if code:
        assert problem["code"] == code
    return problem


@pytest.mark.parametrize(
    ("content", "field"),
    [
        (b'{"brief": {"topic": "Bees"', "body"),
        (b"not json at all", "body"),
        (json.dumps({"brief": {"topic": 42}}).encode(), "brief.topic"),
        (json.dumps({"brief": "Bees"}).encode(), "brief"),
        (json.dumps({**GOOD, "extra": True}).encode(), "extra"),
        (json.dumps({**GOOD, "priority": 0}).encode(), "priority"),
        (json.dumps({**GOOD, "plan": {"targetDurationSeconds": 99999}}).encode(), "plan.targetDurationSeconds"),
        (json.dumps({**GOOD, "render": {"width": 333}}).encode(), "render.width"),
        (json.dumps({"brief": {"topic": "x" * 100_00}}).encode(), "brief.topic"),
        (json.dumps({"brief": {"topic": "a\u0000b"}}).encode(), "brief.topic"),
        (json.dumps([1, 2, 3]).encode(), "body"),
    ],
)
def test_invalid_create_bodies_are_422_problems_naming_the_field(service: Any, content: bytes, field: str) -> None:
    answer = http.post(f"{service.url}/api/jobs", content=content, headers={"content-type": "application/json"})
    problem = assert_problem(answer, 422, "E400-VALIDATION")
    assert field in problem["detail"] or any(error["field"] == field for error in problem["errors"])


def test_an_unknown_voice_is_refused_before_any_job_exists(service: Any) -> None:
    before = http.get(f"{service.url}/api/jobs").json()["total"]
    answer = http.post(f"{service.url}/api/jobs", json={**GOOD, "voice": {"name": "klingon"}})
    assert "voice.name" in assert_problem(answer, 422, "E400-VALIDATION")["detail"]
    assert http.get(f"{service.url}/api/jobs").json()["total"] == before


def test_a_body_over_64_kb_is_413(service: Any) -> None:
    padded = json.dumps({**GOOD, "brief": {"topic": "Bees", "goal": "g" * 70_000}}).encode()
    assert_problem(
        http.post(f"{service.url}/api/jobs", content=padded, headers={"content-type": "application/json"}),
        413,
        "E413-TOO_LARGE",
    )

    def chunks() -> Any:
        for _ in range(70):
            yield b" " * 1024

    streamed = http.post(f"{service.url}/api/jobs", content=chunks(), headers={"content-type": "application/json"})
    assert_problem(streamed, 413, "E413-TOO_LARGE")


@pytest.mark.parametrize(
    "path",
    [
        "/api/jobs/00000000-0000-4000-8000-000000000000",
        "/api/jobs/not..a..job",
        "/api/jobs/" + "a" * 300,
        "/api/jobs/%00",
        "/api/jobs/UPPER-CASE-ID/progress",
        "/api/jobs/00000000-0000-4000-8000-000000000000/logs",
        "/api/render/00000000-0000-4000-8000-000000000000/progress",
    ],
)
def test_unknown_or_malformed_job_ids_are_404_problems(service: Any, path: str) -> None:
    assert_problem(http.get(f"{service.url}{path}"), 404, "E404-NOT_FOUND")


@pytest.mark.parametrize("method", ["cancel", "retry"])
def test_actions_on_unknown_jobs_are_404_problems(service: Any, method: str) -> None:
    assert_problem(http.post(f"{service.url}/api/jobs/00000000-0000-4000-8000-000000000000/{method}"), 404)


@pytest.mark.parametrize(
    "name",
    [
        "..%2f..%2fetc%2fpasswd",
        "%2e%2e",
        "..",
        "%2fetc%2fpasswd",
        "video.mp4%00.txt",
        "%00",
        "manifest.json%2f..",
        "prefect.db",
        "..%5c..%5cwindows",
    ],
)
def test_artifact_names_cannot_leave_the_job_folder(service: Any, name: str) -> None:
    answer = http.get(f"{service.url}/api/jobs/00000000-0000-4000-8000-000000000000/artifacts/{name}")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"


def test_list_parameters_out_of_range_are_422(service: Any) -> None:
    for params in ({"limit": 0}, {"limit": 201}, {"offset": -1}, {"status": "exploded"}):
        assert_problem(http.get(f"{service.url}/api/jobs", params=params), 422, "E400-VALIDATION")


def test_correlation_id_is_honoured_echoed_and_made_when_absent_or_invalid(service: Any) -> None:
    echoed = http.get(f"{service.url}/health", headers={"X-Correlation-ID": "abc-123"})
    assert echoed.headers["x-correlation-id"] == "abc-123"
    made = http.get(f"{service.url}/health").headers["x-correlation-id"]
    invalid = http.get(f"{service.url}/health", headers={"X-Correlation-ID": "bad id\twith spaces"})
    assert len(made) == 32 and invalid.headers["x-correlation-id"] != "bad id\twith spaces"
    problem = http.get(f"{service.url}/api/jobs/nope-nope", headers={"X-Correlation-ID": "corr-9"}).json()
    assert problem["correlationId"] == "corr-9"


def test_openapi_documents_every_route_and_the_docs_page_loads(service: Any) -> None:
    spec = http.get(f"{service.url}/openapi.json").json()
    for path in (
        "/api/jobs",
        "/api/jobs/{job_id}",
        "/api/jobs/{job_id}/progress",
        "/api/jobs/{job_id}/logs",
        "/api/jobs/{job_id}/artifacts/{name}",
        "/api/jobs/{job_id}/cancel",
        "/api/jobs/{job_id}/retry",
        "/api/queue",
        "/api/render/{job_id}/progress",
        "/api/render/{job_id}/cancel",
        "/api/storage",
        "/api/cleanup",
        "/health",
    ):
        assert path in spec["paths"], path
    for model in ("JobCreated", "JobPublic", "JobsPublic", "QueuePublic", "ProgressPublic", "VideoRequest"):
        assert model in spec["components"]["schemas"], model
    assert http.get(f"{service.url}/docs").status_code == 200


def test_health_reports_prefect(service: Any) -> None:
    assert http.get(f"{service.url}/health").json()["prefect"] is True
