"""API keys and owners, access tokens, queue caps and CORS, on an API process with keys configured."""

import base64
import json
from typing import Any

import httpx
import pytest

from flows.contract.layout import job_folders
from tests.utils.keys import ADMIN, ALICE, BOB, STUDIO, as_
from tests.utils.service import SHORT, body, http, pool_paused, submit, wait_status
from tests.utils.sse import read_events
from tests.utils.stack import ApiProcess

pytestmark = pytest.mark.slow


def token_of(api: ApiProcess, key: str) -> str:
    answer = http.post(f"{api.url}/api/tokens", headers=as_(key))
    assert answer.status_code == 201, answer.text
    return answer.json()["token"]


@pytest.fixture(scope="module")
def alices_job(secured: ApiProcess) -> str:
    job_id = submit(secured, "Alice's bees", shape=SHORT, **as_(ALICE))
    wait_status(secured, job_id, "completed", timeout=120, headers=as_(ALICE))
    return job_id


def routes(api: ApiProcess, job_id: str) -> list[tuple[str, str]]:
    """Every route of the OpenAPI document but the health check, with real-looking parameters."""
    spec = http.get(f"{api.url}/openapi.json").json()
    found = []
    for path, methods in spec["paths"].items():
        if path == "/health":
            continue
        concrete = path.replace("{job_id}", job_id).replace("{name}", "video.mp4")
        found += [(method.upper(), concrete) for method in methods]
    return found


def test_every_route_but_health_needs_a_valid_key(secured: ApiProcess, alices_job: str) -> None:
    checked = routes(secured, alices_job)
    assert len(checked) >= 15
    for key in (None, "not-a-key-of-this-service"):
        for method, path in checked:
            answer = http.request(method, secured.url + path, headers=as_(key), json={} if method == "POST" else None)
            assert answer.status_code == 401, (method, path, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.headers["www-authenticate"].startswith("Bearer")
            assert alices_job not in answer.text.replace(path, "")
    assert http.get(f"{secured.url}/health").status_code == 200


def test_another_owners_job_is_not_there_on_any_route(secured: ApiProcess, alices_job: str) -> None:
    job = f"/api/jobs/{alices_job}"
    for method, path in [
        ("GET", job),
        ("GET", f"{job}/progress"),
        ("GET", f"{job}/logs"),
        ("GET", f"{job}/events"),
        ("GET", f"{job}/artifacts/video.mp4"),
        ("GET", f"/api/render/{alices_job}/progress"),
        ("POST", f"{job}/cancel"),
        ("POST", f"{job}/retry"),
        ("POST", f"/api/render/{alices_job}/cancel"),
    ]:
        answer = http.request(method, secured.url + path, headers=as_(BOB))
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["code"] == "E404-NOT_FOUND"
    # Other modules of the session may have given Bob and Alice jobs of their own: compare, not count.
    listed = http.get(f"{secured.url}/api/jobs", params={"limit": 200}, headers=as_(BOB)).json()
    bobs = {entry["jobId"] for entry in listed["jobs"]}
    assert alices_job not in bobs and listed["total"] == listed["stats"]["total"] == len(bobs)
    queue = http.get(f"{secured.url}/api/queue", headers=as_(BOB)).json()
    assert queue["stats"]["total"] == len(bobs)
    for admin_only in ("/api/events/stats", "/api/storage"):
        assert http.get(secured.url + admin_only, headers=as_(BOB)).status_code == 403

    mine = http.get(f"{secured.url}/api/jobs", params={"limit": 200}, headers=as_(ALICE)).json()
    alices = {entry["jobId"] for entry in mine["jobs"]}
    assert alices_job in alices and not alices & bobs and mine["stats"]["completed"] >= 1
    everyone = http.get(f"{secured.url}/api/jobs", params={"limit": 200}, headers=as_(ADMIN)).json()
    assert alices_job in [entry["jobId"] for entry in everyone["jobs"]]
    assert http.get(secured.url + job, headers=as_(ADMIN)).status_code == 200
    assert http.get(secured.url + "/api/events/stats", headers=as_(ADMIN)).status_code == 200


def test_read_only_tokens_open_streams_and_files_of_their_owner_only(secured: ApiProcess, alices_job: str) -> None:
    job = f"{secured.url}/api/jobs/{alices_job}"
    alice, bob = token_of(secured, ALICE), token_of(secured, BOB)
    events = read_events(f"{job}/events?access_token={alice}")
    assert events[0].event == "job-status" and events[-1].event == "job-completed"
    video = http.get(f"{job}/artifacts/video.mp4", params={"access_token": alice}, headers={"Range": "bytes=0-99"})
    assert video.status_code == 206 and len(video.content) == 100

    assert http.get(f"{job}/events", params={"access_token": bob}).status_code == 404
    assert http.get(f"{job}/artifacts/video.mp4", params={"access_token": bob}).status_code == 404
    assert http.post(f"{job}/retry", params={"access_token": alice}).status_code == 401
    claims, _, signature = alice.partition(".")
    as_admin = base64.urlsafe_b64encode(json.dumps({"o": "alice", "a": True, "e": 2**40}).encode()).decode()
    for forged in (f"{claims}.{signature[:-2]}xx", f"{as_admin.rstrip('=')}.{signature}", "garbage", ""):
        answer = http.get(f"{secured.url}/api/jobs", params={"access_token": forged})
        assert answer.status_code == 401, forged


def test_queued_jobs_past_the_owners_cap_are_refused_with_retry_after(secured: ApiProcess) -> None:
    with pool_paused():
        queued = [submit(secured, f"Queued {n}", **as_(BOB)) for n in range(2)]
        try:
            refused = http.post(f"{secured.url}/api/jobs", json=body("One too many"), headers=as_(BOB))
            assert refused.status_code == 429 and refused.json()["code"] == "E429-QUEUE_FULL"
            assert int(refused.headers["retry-after"]) > 0
            other = http.post(f"{secured.url}/api/jobs", json=body("Alice is not capped by Bob"), headers=as_(ALICE))
            assert other.status_code == 202
            queued.append(other.json()["jobId"])
        finally:
            for job_id in queued:
                http.post(f"{secured.url}/api/jobs/{job_id}/cancel", headers=as_(ADMIN))


def test_cors_answers_only_the_configured_origin(secured: ApiProcess) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    allowed = http.options(f"{secured.url}/api/jobs", headers={"Origin": STUDIO, **preflight})
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == STUDIO
    refused = http.options(f"{secured.url}/api/jobs", headers={"Origin": "https://elsewhere.example", **preflight})
    assert "access-control-allow-origin" not in refused.headers
    simple = http.get(f"{secured.url}/health", headers={"Origin": "https://elsewhere.example"})
    assert "access-control-allow-origin" not in simple.headers


def test_artifact_names_and_symlinks_cannot_leave_the_job_folder(service: Any) -> None:
    job_id = submit(service, "Escape")
    wait_status(service, job_id, "completed")
    outputs = job_folders(job_id).outputs
    (outputs / "thumbnail.jpg").unlink()
    (outputs / "thumbnail.jpg").symlink_to("/etc/passwd")
    artifacts = f"{service.url}/api/jobs/{job_id}/artifacts"
    for name in ("thumbnail.jpg", "..%2F..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "video.mp4%00.txt"):
        answer = httpx.get(f"{artifacts}/{name}")
        assert answer.status_code == 404, (name, answer.status_code)
        assert "root:" not in answer.text
