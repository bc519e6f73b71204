"""The OpenAPI document tells the truth about errors: every error status of every route is declared,
as an RFC 7807 problem under `application/problem+json` and nothing else (in-process, no Prefect).

`tests/e2e/test_fuzz.py` checks the same against a running service with schemathesis's conformance checks.
"""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.main import create_app
from api.schemas.events import EVENT_NAMES
from flows.contract.layout import OUTPUT_TYPES, job_folders

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}}
ADMIN_ROUTES = {("GET", "/api/storage"), ("POST", "/api/cleanup"), ("GET", "/api/events/stats"), ("GET", "/metrics")}
# Routes that ask Prefect: it may not answer (503).
PREFECT_FREE = {
    ("GET", "/health"),
    ("GET", "/api/storage"),
    ("GET", "/api/events/stats"),
    ("GET", "/metrics"),
    ("POST", "/api/tokens"),
}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app().openapi()


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


def statuses(document: dict[str, Any], method: str, path: str) -> set[int]:
    return {int(status) for status in document["paths"][path][method.lower()]["responses"]}


def test_every_error_is_a_problem_and_only_a_problem(document: dict[str, Any]) -> None:
    errors = 0
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert response["content"] == PROBLEM, (method, path, status, response)
                errors += 1
    assert errors >= 50
    schemas = document["components"]["schemas"]
    assert {"ProblemDetails", "FieldError"} <= schemas.keys()
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    problem = schemas["ProblemDetails"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "instance", "correlationId", "code"}
    assert {"suggestedActions", "errors"} <= problem["properties"].keys()


def test_every_reference_names_a_component(document: dict[str, Any]) -> None:
    text = json.dumps(document)
    prefix = '"$ref": "#/components/schemas/'
    names = {part.split('"', 1)[0] for part in text.split(prefix)[1:]}
    assert names and names <= document["components"]["schemas"].keys(), names - document["components"]["schemas"].keys()


def test_each_route_declares_the_statuses_it_can_answer(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        declared = statuses(document, method, path)
        where = (method, path, sorted(declared))
        if path == "/health":
            assert declared == {200}, where
            continue
        assert 401 in declared, where  # every other route needs a key when the service has keys
        assert (403 in declared) == ((method, path) in ADMIN_ROUTES), where
        assert (503 in declared) == ((method, path) not in PREFECT_FREE), where
        assert (404 in declared) == ("{job_id}" in path), where
        if method == "POST":
            assert 413 in declared, where  # the body limit comes before the route, body or not
        query_or_header = [p for p in operation.get("parameters", []) if p["in"] in ("query", "header")]
        # FastAPI's str path parameters cannot fail validation; queries, headers and bodies can.
        assert (422 in declared) == bool(query_or_header or "requestBody" in operation), where


def test_the_routes_the_issue_names(document: dict[str, Any]) -> None:
    assert statuses(document, "POST", "/api/jobs") == {200, 202, 400, 401, 413, 422, 429, 503}
    assert statuses(document, "POST", "/api/jobs/batch") == {200, 202, 400, 401, 413, 422, 429, 503}
    batch_body = document["paths"]["/api/jobs/batch"]["post"]["requestBody"]["content"]
    assert set(batch_body) == {"application/json", "text/csv"}
    assert batch_body["application/json"]["schema"]["$ref"].endswith("/BatchRequest")
    assert statuses(document, "GET", "/api/jobs") == {200, 401, 422, 503}
    assert statuses(document, "GET", "/api/jobs/{job_id}/logs") == {200, 401, 404, 422, 503}
    cancel = statuses(document, "POST", "/api/jobs/{job_id}/cancel")
    assert cancel == statuses(document, "POST", "/api/render/{job_id}/cancel") == {202, 401, 404, 409, 413, 503}
    assert statuses(document, "POST", "/api/jobs/{job_id}/retry") == {202, 401, 404, 409, 413, 503}
    responses = document["paths"]["/api/jobs"]["post"]["responses"]
    assert responses["429"]["headers"]["Retry-After"]["required"] is True
    assert responses["401"]["headers"]["WWW-Authenticate"]["required"] is True


def test_the_artifact_route_declares_each_file_type_and_range_answers(document: dict[str, Any]) -> None:
    responses = document["paths"]["/api/jobs/{job_id}/artifacts/{name}"]["get"]["responses"]
    assert {int(status) for status in responses} == {200, 206, 400, 401, 404, 416, 503}
    assert set(responses["200"]["content"]) == set(OUTPUT_TYPES.values())
    assert set(responses["206"]["content"]) == set(OUTPUT_TYPES.values()) | {"multipart/byteranges"}
    assert responses["416"]["headers"]["Content-Range"]["required"] is True


def test_the_event_stream_declares_each_event_and_its_data(document: dict[str, Any]) -> None:
    responses = document["paths"]["/api/jobs/{job_id}/events"]["get"]["responses"]
    assert {int(status) for status in responses} == {200, 204, 401, 404, 422, 503}
    assert "content" not in responses["204"]
    (media_type, content), *others = responses["200"]["content"].items()
    assert media_type == "text/event-stream" and not others
    events = {
        item["properties"]["event"]["const"]: item["properties"]["data"]["contentSchema"]["$ref"]
        for item in content["itemSchema"]["oneOf"]
    }
    assert events == {name: f"#/components/schemas/{model.__name__}" for model, name in EVENT_NAMES.items()}


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    yield TestClient(app)


@pytest.fixture
def video(aura_home: Path) -> Iterator[str]:
    """A finished job's 1000-byte video; keys are off, so the caller is an admin and no Prefect lookup is made."""
    job_id = "openapi-range-job"
    folder = job_folders(job_id).outputs
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "video.mp4").write_bytes(b"v" * 1000)
    yield f"/api/jobs/{job_id}/artifacts/video.mp4"
    (folder / "video.mp4").unlink()


@pytest.mark.parametrize(
    ("range_", "status", "code"),
    [("bytes=5000-", 416, "E416-RANGE_NOT_SATISFIABLE"), ("chars=0-9", 400, "E400-BAD_RANGE")],
)
def test_a_range_the_file_cannot_serve_is_a_documented_problem(
    client: TestClient, video: str, range_: str, status: int, code: str
) -> None:
    assert client.get(video, headers={"Range": "bytes=0-99"}).status_code == 206
    answer = client.get(video, headers={"Range": range_})
    assert answer.status_code == status and answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == code and answer.json()["instance"] == video
    if status == 416:
        assert answer.headers["content-range"] == "bytes */1000"


@pytest.mark.parametrize("path", ["/api/jobs/abc%2Fcancel", "/api/jobs/abc%2F", "/api/jobs/abc/artifacts/video.mp4%2f"])
def test_an_encoded_slash_names_nothing_rather_than_another_route(client: TestClient, path: str) -> None:
    answer = client.get(path, follow_redirects=False)
    assert answer.status_code == 404 and answer.headers["content-type"] == "application/problem+json"
