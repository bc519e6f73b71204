"""`GET /api/queue` and the job body: a queued job's place in line among every owner's jobs, and its ETA."""

import asyncio
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from prefect.client.schemas.objects import FlowRun, StateType

from tests.utils.factories import make_request, new_job_id
from tests.utils.recorded import RecordedPrefect
from tests.utils.records import job_run, state


def ago(seconds: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)


def queued(job_id: str, owner: str, priority: int, seconds_ago: float) -> FlowRun:
    request = make_request().model_copy(update={"priority": priority})
    return job_run(job_id, [state(StateType.SCHEDULED, ago(seconds_ago))], owner=owner, request=request)


def test_queued_jobs_of_every_owner_are_placed_by_priority_then_age_with_growing_etas(
    app: FastAPI, prefect: RecordedPrefect
) -> None:
    running, bobs, alices, alices_urgent = new_job_id(), new_job_id(), new_job_id(), new_job_id()
    prefect.add_flow_run(job_run(running, [state(StateType.RUNNING, ago(2))], owner="bob"))
    prefect.add_flow_run(queued(bobs, "bob", 5, seconds_ago=30))
    prefect.add_flow_run(queued(alices, "alice", 5, seconds_ago=20))
    prefect.add_flow_run(queued(alices_urgent, "alice", 1, seconds_ago=10))
    asyncio.run(app.state.service.index.refresh_once())

    client = TestClient(app)
    line = client.get("/api/queue").json()["jobs"]
    assert [(job["jobId"], job["queuePosition"]) for job in line] == [
        (running, None),
        (alices_urgent, 1),
        (bobs, 2),
        (alices, 3),
    ]
    etas = [job["etaSeconds"] for job in line]
    assert etas[0] < etas[1] < etas[2] < etas[3], "each waits for the one before it, the first for the running job"
    assert all(job["etaLowSeconds"] <= job["etaSeconds"] <= job["etaHighSeconds"] for job in line)
    alone = client.get(f"/api/jobs/{alices}").json()
    assert (alone["queuePosition"], alone["etaSeconds"]) == (3, etas[3])
