"""Who is calling, as the routes of `create_app` see it: keys, read-only tokens in URLs, admin routes."""

from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prefect.client.schemas.objects import StateType

from api.keys import Caller, load_keys
from tests.utils.factories import new_job_id
from tests.utils.recorded import RecordedPrefect
from tests.utils.records import job_run, state

ALICE, BOB, ADMIN = "alice-key-0123456789", "bob-key-0123456789ab", "admin-key-0123456789"


def secured(app: FastAPI) -> TestClient:
    app.state.keys = load_keys(f"{ALICE}:alice,{BOB}:bob,{ADMIN}:ops:admin", None)
    return TestClient(app)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def assert_unauthorized(answer: httpx.Response, detail: str) -> None:
    assert answer.status_code == 401, answer.text
    assert answer.headers["www-authenticate"] == 'Bearer realm="aura"'
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "E401-UNAUTHORIZED" and detail in answer.json()["detail"]


def token_of(client: TestClient, key: str) -> str:
    answer = client.post("/api/tokens", headers=bearer(key))
    assert answer.status_code == 201, answer.text
    token: str = answer.json()["token"]
    return token


def test_without_keys_configured_every_caller_is_the_local_admin(app: FastAPI) -> None:
    client = TestClient(app)
    assert client.get("/api/storage").status_code == 200
    answer = client.post("/api/tokens")
    assert answer.status_code == 201 and answer.json()["owner"] == "local" and answer.json()["admin"] is True


def test_with_keys_a_request_without_one_is_401_and_prefect_is_not_asked(
    app: FastAPI, prefect: RecordedPrefect
) -> None:
    client = secured(app)
    assert_unauthorized(client.get("/api/jobs"), "this service needs an API key")
    assert_unauthorized(client.post("/api/tokens"), "this service needs an API key")
    assert prefect.calls == []


def test_a_key_that_is_not_configured_is_401_in_either_header(app: FastAPI) -> None:
    client = secured(app)
    assert_unauthorized(client.get("/api/jobs", headers=bearer("x" * 20)), "not one of this service's keys")
    assert_unauthorized(client.get("/api/jobs", headers={"X-API-Key": "x" * 20}), "not one of this service's keys")


def test_a_key_in_either_header_names_its_owner(app: FastAPI) -> None:
    client = secured(app)
    asked = datetime.now(UTC)
    by_bearer = client.post("/api/tokens", headers=bearer(ALICE)).json()
    by_header = client.post("/api/tokens", headers={"X-API-Key": ALICE}).json()
    assert (by_bearer["owner"], by_bearer["admin"]) == (by_header["owner"], by_header["admin"]) == ("alice", False)
    expires = datetime.fromisoformat(by_bearer["expiresAt"])
    assert asked + timedelta(minutes=59) < expires < datetime.now(UTC) + timedelta(hours=1, seconds=1)


def test_a_token_in_the_url_reads_as_its_owner(app: FastAPI, prefect: RecordedPrefect) -> None:
    alices, bobs, now = new_job_id(), new_job_id(), datetime.now(UTC)
    prefect.add_flow_run(job_run(alices, [state(StateType.SCHEDULED, now - timedelta(seconds=5))], owner="alice"))
    prefect.add_flow_run(job_run(bobs, [state(StateType.SCHEDULED, now - timedelta(seconds=4))], owner="bob"))
    client = secured(app)
    token = token_of(client, ALICE)
    listed = client.get("/api/jobs", params={"access_token": token})
    assert listed.status_code == 200, listed.text
    assert [job["jobId"] for job in listed.json()["jobs"]] == [alices]
    assert client.get(f"/api/jobs/{alices}", params={"access_token": token}).status_code == 200
    assert client.get(f"/api/jobs/{bobs}", params={"access_token": token}).status_code == 404


def test_a_token_is_refused_on_a_request_that_changes_something(app: FastAPI, prefect: RecordedPrefect) -> None:
    client = secured(app)
    token = token_of(client, ADMIN)
    job_id = new_job_id()
    for path in (f"/api/jobs/{job_id}/cancel", f"/api/jobs/{job_id}/retry", "/api/cleanup", "/api/tokens"):
        assert_unauthorized(client.post(path, params={"access_token": token}), "an access token only reads")
    assert "read_flow_runs" not in prefect.calls


def test_an_expired_or_foreign_token_is_401(app: FastAPI) -> None:
    client = secured(app)
    expired, _ = app.state.keys.issue(Caller(owner="alice", admin=False), -1)
    foreign, _ = load_keys(f"{ALICE}:alice", None).issue(Caller(owner="alice", admin=False), 60)
    for token in (expired, foreign, "garbage"):
        assert_unauthorized(client.get("/api/jobs", params={"access_token": token}), "not valid or has expired")


def test_admin_routes_are_403_for_an_owners_key_or_token(app: FastAPI) -> None:
    client = secured(app)
    for answer in (
        client.get("/api/storage", headers=bearer(ALICE)),
        client.get("/api/events/stats", headers=bearer(BOB)),
        client.get("/api/storage", params={"access_token": token_of(client, ALICE)}),
    ):
        assert answer.status_code == 403, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["code"] == "E403-ADMIN_ONLY"
    assert client.get("/api/storage", headers=bearer(ADMIN)).status_code == 200
    assert client.get("/api/storage", params={"access_token": token_of(client, ADMIN)}).status_code == 200
    assert client.get("/api/events/stats", headers=bearer(ADMIN)).json()["watchedJobs"] == 0
