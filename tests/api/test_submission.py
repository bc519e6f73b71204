"""Creating jobs in-process over a recorded Prefect that has the deployment: idempotency keys and batches."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api import prefect_client
from api.keys import load_keys
from api.settings import settings
from flows.contract.status import job_id_of, owner_of
from tests.api.test_main import GOOD, assert_problem
from tests.utils.recorded import RecordedPrefect

ALICE, BOB = "alice-key-0123456789", "bob-key-0123456789ab"


@pytest.fixture
def client(app: FastAPI, prefect: RecordedPrefect) -> TestClient:
    prefect.deployed = True
    return TestClient(app)


def body(topic: str, **fields: Any) -> dict[str, Any]:
    return {**GOOD, "brief": {"topic": topic}, **fields}


def topics(prefect: RecordedPrefect) -> list[str]:
    """The topics of the flow runs Prefect holds, oldest first."""
    runs = sorted(prefect.flow_runs.values(), key=lambda run: run.created or datetime.min)
    return [run.parameters["request"]["brief"]["topic"] for run in runs]


def test_the_same_key_and_body_again_is_200_with_the_first_job_and_no_second_run(
    client: TestClient, prefect: RecordedPrefect
) -> None:
    key = {"Idempotency-Key": "order-17"}
    first = client.post("/api/jobs", json=body("Bees"), headers={**key, "X-Correlation-ID": "first-try"})
    again = client.post("/api/jobs", json=body("Bees"), headers={**key, "X-Correlation-ID": "second-try"})
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json() == first.json() and again.json()["correlationId"] == "first-try"
    assert again.headers["location"] == first.headers["location"]
    assert len(prefect.flow_runs) == 1

    other = client.post("/api/jobs", json=body("Wasps"), headers=key)
    problem = assert_problem(other, 422, "E422-IDEMPOTENCY_KEY_REUSED")
    assert first.json()["jobId"] in problem["detail"] and "'order-17'" in problem["detail"]
    assert len(prefect.flow_runs) == 1
    assert client.post("/api/jobs", json=body("Bees")).status_code == 202, "no key: a new job every time"
    assert len(prefect.flow_runs) == 2


def test_a_key_is_the_owners_own(app: FastAPI, client: TestClient, prefect: RecordedPrefect) -> None:
    app.state.keys = load_keys(f"{ALICE}:alice,{BOB}:bob", None)
    key = {"Idempotency-Key": "same-words"}
    alices = client.post("/api/jobs", json=body("Bees"), headers={**key, "Authorization": f"Bearer {ALICE}"})
    bobs = client.post("/api/jobs", json=body("Wasps"), headers={**key, "Authorization": f"Bearer {BOB}"})
    assert (alices.status_code, bobs.status_code) == (202, 202)
    assert sorted(owner_of(run.tags) or "" for run in prefect.flow_runs.values()) == ["alice", "bob"]


def test_a_key_older_than_24_hours_makes_a_new_job_which_the_key_then_names(
    client: TestClient, prefect: RecordedPrefect
) -> None:
    key = {"Idempotency-Key": "daily-report"}
    old = client.post("/api/jobs", json=body("Bees"), headers=key).json()["jobId"]
    [run] = prefect.flow_runs.values()
    prefect.add_flow_run(run.model_copy(update={"created": datetime.now(UTC) - timedelta(hours=24, seconds=1)}))

    new = client.post("/api/jobs", json=body("Wasps"), headers=key)
    assert new.status_code == 202 and new.json()["jobId"] != old
    again = client.post("/api/jobs", json=body("Wasps"), headers=key)
    assert again.status_code == 200 and again.json()["jobId"] == new.json()["jobId"]
    assert len(prefect.flow_runs) == 2


def test_a_key_longer_than_255_characters_is_422(client: TestClient, prefect: RecordedPrefect) -> None:
    answer = client.post("/api/jobs", json=body("Bees"), headers={"Idempotency-Key": "k" * 256})
    assert "Idempotency-Key" in assert_problem(answer, 422, "E400-VALIDATION")["detail"]
    assert prefect.flow_runs == {}


def test_a_batch_queues_every_job_in_order(client: TestClient, prefect: RecordedPrefect) -> None:
    sent = [body(f"Topic {n}", priority=1 + n % 10) for n in range(12)]
    answer = client.post("/api/jobs/batch", json={"jobs": sent})
    assert answer.status_code == 202, answer.text
    created = answer.json()
    assert created["jobIds"] == [job["jobId"] for job in created["jobs"]]
    assert topics(prefect) == [f"Topic {n}" for n in range(12)]
    by_job = {job_id_of(run): run for run in prefect.flow_runs.values()}
    assert [by_job[job_id].parameters["request"]["priority"] for job_id in created["jobIds"]] == [
        1 + n % 10 for n in range(12)
    ]
    assert all(job["status"] == "queued" and job["links"]["self"].endswith(job["jobId"]) for job in created["jobs"])


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"brief": {"topic": "Bees", "aspect": "4:3"}}, "jobs.1.brief.aspect"),
        ({"brief": {}}, "jobs.1.brief.topic"),
        ({"brief": {"topic": "Bees"}, "colour": "red"}, "jobs.1.colour"),
    ],
)
def test_one_invalid_body_is_422_naming_it_and_nothing_is_queued(
    client: TestClient, prefect: RecordedPrefect, item: dict[str, Any], field: str
) -> None:
    answer = client.post("/api/jobs/batch", json={"jobs": [body("Fine"), item, body("Fine too")]})
    problem = assert_problem(answer, 422, "E400-VALIDATION")
    assert [error["field"] for error in problem["errors"]] == [field]
    assert prefect.calls == []


def test_a_voice_espeak_lacks_names_its_job_and_nothing_is_queued(client: TestClient, prefect: RecordedPrefect) -> None:
    answer = client.post("/api/jobs/batch", json={"jobs": [body("Fine"), body("Klingon", voice={"name": "tlh"})]})
    assert assert_problem(answer, 422, "E400-VALIDATION")["detail"].startswith("jobs.1.voice.name:")
    assert prefect.calls == []


@pytest.mark.parametrize(("count", "message"), [(0, "at least 1"), (101, "at most 100")])
def test_an_empty_batch_or_one_over_100_is_422(
    client: TestClient, prefect: RecordedPrefect, count: int, message: str
) -> None:
    problem = assert_problem(client.post("/api/jobs/batch", json={"jobs": [GOOD] * count}), 422, "E400-VALIDATION")
    assert problem["errors"][0]["field"] == "jobs" and message in problem["errors"][0]["message"]
    assert prefect.calls == []


def test_a_batch_past_the_queue_limit_is_429_and_queues_nothing(
    client: TestClient, prefect: RecordedPrefect, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "max_queued_per_owner", 3)
    client.post("/api/jobs", json=body("Already queued"))
    answer = client.post("/api/jobs/batch", json={"jobs": [body("One"), body("Two"), body("Three")]})
    assert "the batch would add 3" in assert_problem(answer, 429, "E429-QUEUE_FULL")["detail"]
    assert topics(prefect) == ["Already queued"]


def test_a_batch_sent_again_with_its_key_queues_nothing_twice(client: TestClient, prefect: RecordedPrefect) -> None:
    key = {"Idempotency-Key": "batch-9"}
    jobs = {"jobs": [body("One"), body("Two")]}
    first = client.post("/api/jobs/batch", json=jobs, headers=key)
    again = client.post("/api/jobs/batch", json=jobs, headers=key)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["jobIds"] == first.json()["jobIds"]
    longer = client.post("/api/jobs/batch", json={"jobs": [*jobs["jobs"], body("Three")]}, headers=key)
    assert longer.status_code == 202 and longer.json()["jobIds"][:2] == first.json()["jobIds"]
    assert topics(prefect) == ["One", "Two", "Three"]
    changed = client.post("/api/jobs/batch", json={"jobs": [body("One"), body("Other")]}, headers=key)
    assert "(jobs.1)" in assert_problem(changed, 422, "E422-IDEMPOTENCY_KEY_REUSED")["detail"]


CSV = (
    "Topic,Duration,Aspect,Priority,voice,Script_Provider\r\n"
    "Why bees matter,6,16:9,2,,\r\n"
    '"Tides, and the moon",8,9:16,,en-gb,\r\n'
)


def test_a_csv_batch_is_one_job_per_row_with_defaults_for_empty_cells(
    client: TestClient, prefect: RecordedPrefect
) -> None:
    answer = client.post("/api/jobs/batch", content=CSV.encode(), headers={"Content-Type": "text/csv; charset=utf-8"})
    assert answer.status_code == 202, answer.text
    runs = sorted(prefect.flow_runs.values(), key=lambda run: run.created or datetime.min)
    first, second = (run.parameters["request"] for run in runs)
    assert first["brief"] == {**first["brief"], "topic": "Why bees matter", "aspect": "16:9"}
    assert (first["plan"]["targetDurationSeconds"], first["priority"], first["voice"]["name"]) == (6, 2, None)
    assert second["brief"]["topic"] == "Tides, and the moon" and second["brief"]["aspect"] == "9:16"
    assert (second["priority"], second["voice"]["name"]) == (5, "en-gb")


@pytest.mark.parametrize(
    ("csv", "field", "message"),
    [
        ("topic,colour\nBees,red\n", "csv.colour", "unknown column"),
        ("topic,Voice,voice\nBees,en,fr\n", "csv.voice", "more than once"),
        ("topic,duration\nBees,6\nWasps,forever\n", "jobs.1.plan.targetDurationSeconds", "number"),
        ("topic\nBees,6\n", "jobs.0", "the row has 2 cells, the header 1"),
        ("duration\n6\n", "jobs.0.brief", "required"),
        ("\n\n", "body", "the CSV is empty"),
    ],
)
def test_a_csv_that_cannot_be_a_batch_is_422_naming_the_cell(
    client: TestClient, prefect: RecordedPrefect, csv: str, field: str, message: str
) -> None:
    answer = client.post("/api/jobs/batch", content=csv.encode(), headers={"Content-Type": "text/csv"})
    [error] = assert_problem(answer, 422, "E400-VALIDATION")["errors"]
    assert error["field"] == field and message in error["message"]
    assert prefect.calls == []


def test_a_csv_that_is_not_utf8_is_422(client: TestClient, prefect: RecordedPrefect) -> None:
    answer = client.post(
        "/api/jobs/batch", content="topic\nCafé\n".encode("latin-1"), headers={"Content-Type": "text/csv"}
    )
    assert "not UTF-8" in assert_problem(answer, 422, "E400-VALIDATION")["detail"]
    assert prefect.calls == []


def test_a_batch_may_be_larger_than_one_job_but_has_a_limit(client: TestClient, prefect: RecordedPrefect) -> None:
    brief = {"topic": "x" * 300, "audience": "y" * 200, "goal": "z" * 200}
    jobs = {"jobs": [body("", brief=brief) for _ in range(100)]}
    sent = client.post("/api/jobs/batch", json=jobs)
    assert sent.status_code == 202 and int(sent.request.headers["content-length"]) > settings.api_max_body_bytes
    assert len(prefect.flow_runs) == 100
    too_big = client.post("/api/jobs/batch", content=b"x" * (settings.api_max_batch_body_bytes + 1))
    assert_problem(too_big, 413, "E413-TOO_LARGE")


def test_a_bulk_create_prefect_could_not_finish_is_sent_again_without_making_a_job_twice(
    client: TestClient, prefect: RecordedPrefect, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prefect_client, "BULK_CREATE_BACKOFF_SECONDS", 0)
    prefect.locked_bulk_creates = 2
    answer = client.post("/api/jobs/batch", json={"jobs": [body("One"), body("Two"), body("Three")]})
    assert answer.status_code == 202, answer.text
    assert prefect.calls.count("create_flow_run_bulk") == 3
    assert topics(prefect) == ["One", "Two", "Three"]

    prefect.locked_bulk_creates = prefect_client.BULK_CREATE_TRIES
    busy = client.post("/api/jobs/batch", json={"jobs": [body("Four"), body("Five")]})
    problem = assert_problem(busy, 503, "E503-PREFECT_BUSY")
    assert busy.headers["retry-after"] == "5" and "database is locked" in problem["detail"]
    assert topics(prefect) == ["One", "Two", "Three", "Four"], "what Prefect made stays made, once"


def test_a_job_prefect_is_slow_to_store_is_answered_503_at_the_deadline_and_is_still_queued_once(
    app: FastAPI, prefect: RecordedPrefect, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefect.deployed = True
    prefect.write_seconds = 0.5
    monkeypatch.setattr(settings, "write_deadline_seconds", 0.1)
    key = {"Idempotency-Key": "slow-order"}

    async def story() -> tuple[httpx.Response, int, httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            busy = await client.post("/api/jobs", json=body("Bees"), headers=key)
            stored_when_answered = len(prefect.flow_runs)
            await asyncio.sleep(prefect.write_seconds)
            again = await client.post("/api/jobs", json=body("Bees"), headers=key)
            return busy, stored_when_answered, again

    busy, stored_when_answered, again = asyncio.run(story())
    problem = assert_problem(busy, 503, "E503-PREFECT_BUSY")
    assert busy.headers["retry-after"] == "5" and stored_when_answered == 0
    assert "may still take effect" in problem["detail"] and "Idempotency-Key" in problem["suggestedActions"][0]
    assert again.status_code == 200, again.text
    assert topics(prefect) == ["Bees"], "the late write took effect, once"


@pytest.mark.parametrize("url", ["http://127.0.0.1:9000/hook", "http://169.254.169.254/latest", "http://[::1]/"])
def test_a_webhook_to_a_private_address_is_422_naming_it_and_nothing_is_queued(
    client: TestClient, prefect: RecordedPrefect, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setattr(settings, "webhook_allow_private", False)
    answer = client.post("/api/jobs", json=body("Bees", webhook={"url": url}))
    detail = assert_problem(answer, 422, "E400-VALIDATION")["detail"]
    assert detail.startswith("webhook.url: ") and "AURA_WEBHOOK_ALLOW_PRIVATE" in detail
    batch = client.post("/api/jobs/batch", json={"jobs": [body("Fine"), body("Bees", webhook={"url": url})]})
    assert assert_problem(batch, 422, "E400-VALIDATION")["detail"].startswith("jobs.1.webhook.url: ")
    assert prefect.calls == []


@pytest.mark.parametrize(
    ("webhook", "field"),
    [
        ({"url": "ftp://example.com/x"}, "webhook.url"),
        ({"url": "https://example.com/x", "events": ["job-finished"]}, "webhook.events.0"),
        ({"url": "https://example.com/x", "events": []}, "webhook.events"),
        ({"url": "https://example.com/x", "secret": "mine"}, "webhook.secret"),
    ],
)
def test_a_malformed_webhook_is_422_naming_the_field(
    client: TestClient, prefect: RecordedPrefect, webhook: dict[str, Any], field: str
) -> None:
    problem = assert_problem(client.post("/api/jobs", json=body("Bees", webhook=webhook)), 422, "E400-VALIDATION")
    assert [error["field"] for error in problem["errors"]] == [field]
    assert prefect.calls == []
