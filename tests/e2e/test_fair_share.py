"""Owners take turns, and `AURA_MAX_RUNNING_PER_OWNER` holds across workers, on the real stack.

The session's worker runs one job at a time: the A/B scenario of the issue as it is.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client

from api.jobs.owner_deployments import owner_deployment_name
from api.keys import LOCAL
from api.settings import settings
from tests.utils.keys import ALICE, BOB, as_
from tests.utils.service import LONG, SHORT, body, http, job, pool_paused, submit, wait_status
from tests.utils.stack import ApiProcess

pytestmark = pytest.mark.slow

TINY = {"plan": {"targetDurationSeconds": 3}, "render": {"width": 160}}


@pytest.fixture(scope="module")
def two_owners(service: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    with ApiProcess(tmp_path_factory.mktemp("owners") / "api.log", AURA_API_KEYS=f"{ALICE}:alice,{BOB}:bob") as api:
        yield api


def test_bobs_one_job_starts_at_the_next_free_slot_ahead_of_alices_queued_ones(two_owners: ApiProcess) -> None:
    answer = http.post(
        f"{two_owners.url}/api/jobs/batch",
        # Her first runs until it is cancelled, once Bob is in line: it holds the one slot meanwhile.
        json={"jobs": [body("Alice 0", shape=LONG)] + [body(f"Alice {n}", shape=SHORT) for n in range(1, 4)]},
        headers=as_(ALICE),
    )
    alices = answer.json()["jobIds"]
    try:
        first = wait_status(two_owners, alices[0], "running", headers=as_(ALICE))
        with pool_paused():
            # Read in Prefect, not the API's copy of the jobs, which may lag by a refresh.
            waiting = [job_id for job_id in alices if not_taken(job(two_owners, job_id, as_(ALICE)))]
            assert waiting == alices[1:], "her first holds the one slot, the rest wait"
            bobs = submit(two_owners, "Bob's one", shape=TINY, **as_(BOB))
            assert job(two_owners, bobs, as_(BOB))["queuePosition"] == 1
            assert [job(two_owners, job_id, as_(ALICE))["queuePosition"] for job_id in waiting] == [2, 3, 4]
        # The slot frees: Bob's job takes it, ahead of her three queued before it.
        assert http.post(f"{two_owners.url}/api/jobs/{first['jobId']}/cancel", headers=as_(ALICE)).status_code == 202
        bob = wait_status(two_owners, bobs, "completed", headers=as_(BOB))
        assert job(two_owners, alices[0], as_(ALICE))["endedAt"] <= bob["startedAt"]
        for job_id in waiting:
            started = job(two_owners, job_id, as_(ALICE))["startedAt"]
            assert started is None or started >= bob["endedAt"], "she went ahead of Bob"
    finally:
        for job_id in alices:
            http.post(f"{two_owners.url}/api/jobs/{job_id}/cancel", headers=as_(ALICE))


def not_taken(found: dict[str, Any]) -> bool:
    """Still Scheduled in Prefect: no worker has taken it (Pending, which a job body also calls queued, has been)."""
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(found["flowRunId"]).state
    return state is not None and state.is_scheduled()


@pytest.fixture()
def second_worker(prefect_api_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from api.supervisor.processes import running_worker

    monkeypatch.setattr(settings, "webhook_worker_limit", 0)
    with running_worker(prefect_api_url, limit=1, name="test-worker-2"):
        yield


def test_an_owners_cap_of_one_holds_their_jobs_back_while_a_second_worker_is_free(
    service: Any, second_worker: None, tmp_path: Path
) -> None:
    with ApiProcess(tmp_path / "api.log", AURA_MAX_RUNNING_PER_OWNER="1") as capped:
        # Queued together, and long enough that without the cap each worker would take one at once.
        jobs = [body(f"Capped {n}", shape=SHORT) for n in range(2)]
        job_ids = http.post(f"{capped.url}/api/jobs/batch", json={"jobs": jobs}).json()["jobIds"]
        ended = [wait_status(capped, job_id, "completed", "failed", timeout=120) for job_id in job_ids]
        assert [found["status"] for found in ended] == ["completed"] * 2
        spans = sorted((found["startedAt"], found["endedAt"]) for found in ended)
        assert all(earlier[1] <= later[0] for earlier, later in zip(spans, spans[1:], strict=False)), spans
        with get_client(sync_client=True) as client:
            runs = [client.read_flow_run(found["prefectUrl"].rsplit("/", 1)[1]) for found in ended]
            deployment = client.read_deployment(runs[0].deployment_id)
            held_back = [
                state.name for run in runs for state in client.read_flow_run_states(run.id) if state.is_scheduled()
            ]
            # With no keys, every job is the `local` owner's.
            assert deployment.name == owner_deployment_name(LOCAL.owner)
            assert deployment.global_concurrency_limit.limit == 1
            assert "AwaitingConcurrencySlot" in held_back, "a free worker slot was offered a job the cap then held back"

            client.delete_deployment(deployment.id)
            after_delete = submit(capped, "Capped after a delete", shape=TINY)
            assert wait_status(capped, after_delete, "completed", "failed", timeout=60)["status"] == "completed"
            made_again = client.read_deployment(
                client.read_flow_run(job(capped, after_delete)["flowRunId"]).deployment_id
            )
    assert made_again.name == deployment.name and made_again.id != deployment.id, "the operator's delete is undone"
