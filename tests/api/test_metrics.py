"""`GET /metrics` in-process over a recorded Prefect: what a scrape shows after a known set of jobs."""

import asyncio
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prefect.client.schemas.objects import StateType
from prometheus_client.parser import text_string_to_metric_families

from api.keys import load_keys
from api.metrics import PROCESS
from api.service import JobService
from tests.api.test_main import GOOD, assert_problem
from tests.utils.recorded import RecordedPrefect
from tests.utils.records import in_state, state

ALICE, ADMIN = "alice-key-0123456789", "admin-key-0123456789"


def scrape(client: TestClient, **headers: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, by name and labels."""
    answer = client.get("/metrics", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def job(topic: str) -> dict[str, object]:
    return {**GOOD, "brief": {"topic": topic}}


def test_a_scrape_counts_the_jobs_queued_replayed_started_and_by_status(app: FastAPI, prefect: RecordedPrefect) -> None:
    prefect.deployed = True
    client = TestClient(app)
    for topic in ("One", "Two", "Three"):
        assert client.post("/api/jobs", json=job(topic), headers={"Idempotency-Key": topic}).status_code == 202
    assert client.post("/api/jobs", json=job("One"), headers={"Idempotency-Key": "One"}).status_code == 200

    service: JobService = app.state.service
    first = min(prefect.flow_runs.values(), key=lambda run: run.created or 0)
    assert first.created is not None
    prefect.add_flow_run(in_state(first, state(StateType.RUNNING, first.created + timedelta(seconds=4))))
    asyncio.run(service.index.refresh_once())

    samples = scrape(client)
    process = ("process", PROCESS)
    assert samples[("aura_jobs_submitted_total", ())] == 3
    assert samples[("aura_jobs_replayed_total", ())] == 1
    assert samples[("aura_jobs", (process, ("status", "queued")))] == 2
    assert samples[("aura_jobs", (process, ("status", "running")))] == 1
    assert samples[("aura_jobs", (process, ("status", "failed")))] == 0
    assert samples[("aura_job_owners", (process,))] == 1
    assert samples[("aura_job_start_wait_seconds_count", ())] == 1
    assert samples[("aura_job_start_wait_seconds_sum", ())] == pytest.approx(4, abs=0.01)
    assert samples[("aura_job_start_wait_seconds_bucket", (("le", "2.0"),))] == 0
    assert samples[("aura_job_start_wait_seconds_bucket", (("le", "5.0"),))] == 1
    assert samples[("aura_jobs_copy_age_seconds", (process,))] < 5
    assert samples[("aura_prefect_requests_total", (("reader", "jobs_copy"),))] == 0, "the recorded Prefect counts none"
    assert samples[("aura_stream_clients", ())] == 0

    asyncio.run(service.index.refresh_once())
    assert scrape(client)[("aura_job_start_wait_seconds_count", ())] == 1, "a job's start is counted once"


def test_with_keys_metrics_are_for_admins(app: FastAPI) -> None:
    app.state.keys = load_keys(f"{ALICE}:alice,{ADMIN}:ops:admin", None)
    client = TestClient(app)
    assert_problem(client.get("/metrics"), 401, "E401-UNAUTHORIZED")
    assert_problem(client.get("/metrics", headers={"Authorization": f"Bearer {ALICE}"}), 403, "E403-ADMIN_ONLY")
    assert ("aura_jobs_submitted_total", ()) in scrape(client, Authorization=f"Bearer {ADMIN}")
