"""The app as `create_app` wires it, in-process over recorded Prefect data: answers and problems of the routes."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prefect.client.schemas.objects import StateType

from api.settings import settings
from flows.contract.artifacts import JobFailure
from tests.utils.factories import new_job_id
from tests.utils.recorded import RecordedPrefect
from tests.utils.records import failure_artifact, job_run, progress_artifact, state, untagged

GOOD = {"brief": {"topic": "Bees"}, "plan": {"targetDurationSeconds": 6}, "render": {"width": 320}}


def ago(seconds: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)


def assert_problem(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = answer.json()
    assert problem["code"] == code and problem["status"] == status
    assert problem["correlationId"] == answer.headers["x-correlation-id"]
    return problem


def test_a_job_is_read_from_prefect_with_its_progress(app: FastAPI, prefect: RecordedPrefect) -> None:
    job_id = new_job_id()
    run = job_run(job_id, [state(StateType.SCHEDULED, ago(30)), state(StateType.RUNNING, ago(20))])
    prefect.add_flow_run(run)
    prefect.add_artifacts(progress_artifact(run, "voice", 50, created=ago(10), current=3, total=6))
    answer = TestClient(app).get(f"/api/jobs/{job_id}", headers={"X-Correlation-ID": "read-1"})
    assert answer.status_code == 200 and answer.headers["x-correlation-id"] == "read-1"
    job = answer.json()
    assert (job["jobId"], job["status"], job["stage"], job["percent"]) == (job_id, "running", "voice", 40.0)
    assert job["flowRunId"] == str(run.id) and job["prefectUrl"].endswith(f"/runs/flow-run/{run.id}")
    progress = TestClient(app).get(f"/api/jobs/{job_id}/progress").json()
    assert progress["currentStep"]["name"] == "voice" and progress["currentStep"]["progressPct"] == 50.0


def test_an_unknown_or_malformed_job_id_is_404(app: FastAPI, prefect: RecordedPrefect) -> None:
    client = TestClient(app)
    assert_problem(client.get(f"/api/jobs/{new_job_id()}"), 404, "E404-NOT_FOUND")
    calls = len(prefect.calls)
    for bad in ("UPPER-CASE", "a..b", "x" * 80):
        assert_problem(client.get(f"/api/jobs/{bad}/progress"), 404, "E404-NOT_FOUND")
    assert len(prefect.calls) == calls, "a malformed id is refused before Prefect is asked"


def test_prefect_away_is_503_with_retry_after(app: FastAPI, prefect: RecordedPrefect) -> None:
    prefect.reachable = False
    client = TestClient(app)
    for answer in (client.get("/api/jobs"), client.get(f"/api/jobs/{new_job_id()}"), client.get("/api/queue")):
        assert_problem(answer, 503, "E503-PREFECT_UNAVAILABLE")
        assert answer.headers["retry-after"] == "5"


def test_a_retry_inside_the_backoff_is_409_with_retry_after(
    app: FastAPI, prefect: RecordedPrefect, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "manual_retry_base_seconds", 5.0)
    job_id = new_job_id()
    first = job_run(job_id, [state(StateType.RUNNING, ago(60)), state(StateType.FAILED, ago(50))], latest=False)
    second = job_run(job_id, [state(StateType.RUNNING, ago(10)), state(StateType.FAILED, ago(3.5))], attempt=2)
    prefect.add_flow_run(first)
    prefect.add_flow_run(second)
    answer = TestClient(app).post(f"/api/jobs/{job_id}/retry")
    problem = assert_problem(answer, 409, "E409-RETRY_BACKOFF")
    assert answer.headers["retry-after"] == "7", "10 s before the second retry, 3.5 s of it gone"
    assert problem["suggestedActions"] == ["Retry again after 7 seconds."]


def test_changing_a_job_in_the_wrong_state_is_409(app: FastAPI, prefect: RecordedPrefect) -> None:
    done, running = new_job_id(), new_job_id()
    prefect.add_flow_run(job_run(done, [state(StateType.RUNNING, ago(60)), state(StateType.COMPLETED, ago(50))]))
    prefect.add_flow_run(job_run(running, [state(StateType.RUNNING, ago(5))]))
    client = TestClient(app)
    assert (
        "nothing to cancel" in assert_problem(client.post(f"/api/jobs/{done}/cancel"), 409, "E409-JOB_ENDED")["detail"]
    )
    assert_problem(client.post(f"/api/render/{done}/cancel"), 409, "E409-JOB_ENDED")
    assert_problem(client.post(f"/api/jobs/{running}/retry"), 409, "E409-NOT_RETRYABLE")


def test_a_full_queue_is_429_and_nothing_is_submitted(
    app: FastAPI, prefect: RecordedPrefect, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "max_queued_per_owner", 1)
    prefect.add_flow_run(job_run(new_job_id(), [state(StateType.SCHEDULED, ago(5))], owner="local"))
    prefect.add_flow_run(job_run(new_job_id(), [state(StateType.SCHEDULED, ago(5))], owner="someone"))
    answer = TestClient(app).post("/api/jobs", json=GOOD)
    problem = assert_problem(answer, 429, "E429-QUEUE_FULL")
    assert answer.headers["retry-after"] == "30"
    assert problem["detail"] == "your queue holds 1 jobs, the most allowed is 1"
    assert "read_deployment_by_name" not in prefect.calls


def test_a_job_submitted_before_the_service_is_deployed_is_503_saying_what_to_do(
    app: FastAPI, prefect: RecordedPrefect
) -> None:
    problem = assert_problem(TestClient(app).post("/api/jobs", json=GOOD), 503, "E503-NOT_DEPLOYED")
    assert "nothing was queued" in problem["detail"]
    assert any("aura serve" in action for action in problem["suggestedActions"])


def test_an_unknown_voice_is_422_before_prefect_is_asked(app: FastAPI, prefect: RecordedPrefect) -> None:
    answer = TestClient(app).post("/api/jobs", json={**GOOD, "voice": {"name": "klingon"}})
    assert "voice.name" in assert_problem(answer, 422, "E400-VALIDATION")["detail"]
    assert prefect.calls == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"brief": {"topic": 42}}, "brief.topic"),
        ({**GOOD, "priority": 0}, "priority"),
        ({**GOOD, "extra": True}, "extra"),
        ({**GOOD, "render": {"width": 333}}, "render.width"),
        ([1, 2], "body"),
    ],
)
def test_an_invalid_create_body_is_422_naming_the_field(app: FastAPI, body: Any, field: str) -> None:
    problem = assert_problem(TestClient(app).post("/api/jobs", json=body), 422, "E400-VALIDATION")
    assert problem["detail"].startswith(f"{field}: ")


def test_a_create_body_over_the_limit_is_413_declared_or_chunked(app: FastAPI, prefect: RecordedPrefect) -> None:
    padded = json.dumps({**GOOD, "brief": {"topic": "Bees", "goal": "g" * settings.api_max_body_bytes}}).encode()

    def chunks() -> Iterator[bytes]:
        yield padded[: len(padded) // 2]
        yield padded[len(padded) // 2 :]

    client = TestClient(app)
    for content in (padded, chunks()):
        answer = client.post("/api/jobs", content=content, headers={"content-type": "application/json"})
        assert_problem(answer, 413, "E413-TOO_LARGE")
    assert prefect.calls == []


def test_the_list_is_newest_first_with_stats_and_a_status_filter(app: FastAPI, prefect: RecordedPrefect) -> None:
    old, new, retried = new_job_id(), new_job_id(), new_job_id()
    prefect.add_flow_run(job_run(old, [state(StateType.RUNNING, ago(90)), state(StateType.COMPLETED, ago(80))]))
    first = job_run(retried, [state(StateType.RUNNING, ago(70)), state(StateType.FAILED, ago(65))])
    prefect.add_flow_run(untagged(first))
    prefect.add_flow_run(job_run(retried, [state(StateType.SCHEDULED, ago(20))], attempt=2))
    failed = job_run(new, [state(StateType.RUNNING, ago(30)), state(StateType.FAILED, ago(25))])
    prefect.add_flow_run(failed)
    failure = JobFailure(code="E304-FFMPEG_RUNTIME", stage="render", message="x", suggested_actions=[], log_tail="")
    prefect.add_artifacts(failure_artifact(failed, failure, at=ago(25)))
    client = TestClient(app)
    listed = client.get("/api/jobs").json()
    assert [job["jobId"] for job in listed["jobs"]] == [retried, new, old]
    assert listed["total"] == 3
    assert listed["stats"] == {"total": 3, "queued": 1, "running": 0, "completed": 1, "failed": 1, "cancelled": 0}
    assert listed["jobs"][0]["attempt"] == 2
    assert datetime.fromisoformat(listed["jobs"][0]["createdAt"]) == first.created, "the first attempt's"
    assert listed["jobs"][1]["error"]["code"] == "E304-FFMPEG_RUNTIME"
    only_failed = client.get("/api/jobs", params={"status": "failed"}).json()
    assert [job["jobId"] for job in only_failed["jobs"]] == [new] and only_failed["total"] == 1
