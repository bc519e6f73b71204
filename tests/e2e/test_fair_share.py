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
from tests.utils.service import SHORT, body, http, job, pool_paused, submit, wait_status
from tests.utils.stack import ApiProcess

pytestmark = pytest.mark.slow

TINY = {"plan": {"targetDurationSeconds": 3}, "render": {"width": 160}}
# Some seconds of render, so that she is usually still running when the pool pauses (the test holds either way).
RUNNING = {"plan": {"targetDurationSeconds": 60}, "render": {"width": 960}}


@pytest.fixture(scope="module")
def two_owners(service: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    with ApiProcess(tmp_path_factory.mktemp("owners") / "api.log", AURA_API_KEYS=f"{ALICE}:alice,{BOB}:bob") as api:
        yield api


def test_bobs_one_job_starts_at_the_next_free_slot_ahead_of_alices_queued_ones(two_owners: ApiProcess) -> None:
    answer = http.post(
        f"{two_owners.url}/api/jobs/batch",
        # Her first long enough to be seen running: seconds on any machine, not one.
        json={"jobs": [body("Alice 0", shape=RUNNING)] + [body(f"Alice {n}", shape=SHORT) for n in range(1, 4)]},
        headers=as_(ALICE),
    )
    alices = answer.json()["jobIds"]
    try:
        wait_status(two_owners, alices[0], "running", headers=as_(ALICE))
        with pool_paused():
            # Hers that a worker has taken (her first, or on a slow machine the next too: a CI run saw
            # her first end before the pool paused) hold the slot; the rest wait for it, as Bob's will.
            waiting = [job_id for job_id in alices if not_taken(job(two_owners, job_id, as_(ALICE)))]
            assert alices[-1] in waiting, "the pool paused too late to leave any of hers waiting"
            bobs = submit(two_owners, "Bob's one", shape=TINY, **as_(BOB))
            assert job(two_owners, bobs, as_(BOB))["queuePosition"] == 1
            places = [job(two_owners, job_id, as_(ALICE))["queuePosition"] for job_id in waiting]
            assert places == list(range(2, 2 + len(waiting))), places
        bob = wait_status(two_owners, bobs, "completed", headers=as_(BOB))
        for job_id in alices:
            hers = job(two_owners, job_id, as_(ALICE))
            if job_id in waiting:
                assert hers["startedAt"] is None or hers["startedAt"] >= bob["endedAt"], "she went ahead of Bob"
            else:
                assert hers["endedAt"] <= bob["startedAt"], "Bob's job waited only for hers already taken"
    finally:
        for job_id in alices:
            http.post(f"{two_owners.url}/api/jobs/{job_id}/cancel", headers=as_(ALICE))


def not_taken(found: dict[str, Any]) -> bool:
    """Queued and not yet handed to a worker (Prefect's Pending also reads as queued)."""
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(found["flowRunId"]).state
    return found["status"] == "queued" and state is not None and state.is_scheduled()


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
