"""Each API process's copy of the jobs, read whole and refreshed from recorded Prefect data, one pass at a time."""

import time
from datetime import UTC, datetime, timedelta
from typing import cast

import httpx
import pytest
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import FlowRun, StateType

from api.events.eta import EtaModel
from api.jobs.body import job_public
from api.jobs.errors import JobNotFound
from api.jobs.index import JobIndex
from api.keys import Caller
from api.prefect_client import RequestCounter
from api.settings import settings
from tests.utils.factories import new_job_id
from tests.utils.recorded import RecordedPrefect
from tests.utils.records import in_state, job_run, progress_artifact, state, untagged

pytestmark = pytest.mark.anyio
ADMIN = Caller(owner="ops", admin=True)
ALICE = Caller(owner="alice", admin=False)
BOB = Caller(owner="bob", admin=False)


def ago(seconds: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)


def copy_of(prefect: RecordedPrefect) -> JobIndex:
    return JobIndex(cast(PrefectClient, prefect), RequestCounter())


def finished(job_id: str, kind: StateType, *, created_ago: float, owner: str = "alice", attempt: int = 1) -> FlowRun:
    return job_run(
        job_id,
        [
            state(StateType.SCHEDULED, ago(created_ago)),
            state(StateType.RUNNING, ago(created_ago - 1)),
            state(kind, ago(created_ago - 2)),
        ],
        owner=owner,
        attempt=attempt,
    )


async def page_ids(
    index: JobIndex, who: Caller, *statuses: str, limit: int = 50, offset: int = 0
) -> tuple[list[str], int]:
    page, total = await index.page(who, statuses=list(statuses), limit=limit, offset=offset)
    return [runs.job_id for runs in page], total


async def test_the_whole_read_answers_pages_newest_first_per_owner_without_asking_prefect() -> None:
    prefect = RecordedPrefect()
    old, running, failed, queued = (new_job_id() for _ in range(4))
    prefect.add_flow_run(finished(old, StateType.COMPLETED, created_ago=500))
    run = job_run(running, [state(StateType.SCHEDULED, ago(400)), state(StateType.RUNNING, ago(399))], owner="bob")
    prefect.add_flow_run(run)
    prefect.add_artifacts(progress_artifact(run, "visuals", 40, created=ago(350)))
    prefect.add_flow_run(finished(failed, StateType.FAILED, created_ago=300))
    prefect.add_flow_run(job_run(queued, [state(StateType.SCHEDULED, ago(200))]))
    index = copy_of(prefect)
    await index.refresh_once()
    assert index.fresh
    asked = len(prefect.calls)

    assert await page_ids(index, ADMIN) == ([queued, failed, running, old], 4)
    assert await page_ids(index, ADMIN, limit=2, offset=1) == ([failed, running], 4)
    assert await page_ids(index, ALICE) == ([queued, failed, old], 3)
    assert await page_ids(index, BOB) == ([running], 1)
    assert await page_ids(index, ALICE, "failed", "queued") == ([queued, failed], 2)
    assert await page_ids(index, BOB, "completed") == ([], 0)
    stats = await index.stats(ALICE)
    assert (stats.total, stats.queued, stats.running, stats.completed, stats.failed, stats.cancelled) == (
        3,
        1,
        0,
        1,
        1,
        0,
    )
    assert (await index.stats(ADMIN)).running == 1
    assert "read_flow_runs" not in prefect.calls[asked:] and "count_flow_runs" not in prefect.calls[asked:]

    job = job_public(await index.read(running, BOB), ui="http://prefect.test", eta_model=EtaModel())
    assert (job.stage, job.percent) == ("visuals", 35.0), (
        "a moving run's progress is read with it (voice may still run beside it)"
    )
    with pytest.raises(JobNotFound):
        await index.read(running, ALICE)


async def test_a_new_attempt_replaces_the_old_one_and_keeps_the_first_attempts_creation() -> None:
    prefect = RecordedPrefect()
    job_id = new_job_id()
    first = finished(job_id, StateType.FAILED, created_ago=200)
    prefect.add_flow_run(first)
    index = copy_of(prefect)
    await index.refresh_once()
    assert (await index.stats(ALICE)).failed == 1

    prefect.add_flow_run(untagged(first))
    prefect.add_flow_run(job_run(job_id, [state(StateType.SCHEDULED, ago(1))], attempt=2))
    await index.refresh_once()
    runs = await index.read(job_id, ALICE)
    assert [run.parameters["attempt"] for run in runs.attempts] == [1, 2]
    job = job_public(runs, ui="http://prefect.test", eta_model=EtaModel())
    assert (job.status, job.attempt, job.created_at) == ("queued", 2, first.created)
    stats = await index.stats(ALICE)
    assert (stats.total, stats.queued, stats.failed) == (1, 1, 0)


async def test_a_whole_read_of_a_retried_job_finds_its_first_attempt() -> None:
    prefect = RecordedPrefect()
    job_id = new_job_id()
    first = finished(job_id, StateType.FAILED, created_ago=200)
    prefect.add_flow_run(untagged(first))
    prefect.add_flow_run(finished(job_id, StateType.COMPLETED, created_ago=100, attempt=2))
    index = copy_of(prefect)
    await index.refresh_once()
    runs = await index.read(job_id, ALICE)
    assert [run.id for run in runs.attempts][0] == first.id and runs.latest.parameters["attempt"] == 2


async def test_an_earlier_attempt_read_after_a_retry_does_not_replace_the_new_attempt() -> None:
    prefect = RecordedPrefect()
    job_id = new_job_id()
    first = finished(job_id, StateType.FAILED, created_ago=12)
    prefect.add_flow_run(first)
    index = copy_of(prefect)
    await index.refresh_once()
    # A retry through this process: the new attempt exists, the old one still has the newest-attempt tag.
    second = job_run(job_id, [state(StateType.SCHEDULED, ago(0.5))], attempt=2)
    prefect.add_flow_run(second)
    index.add(second, time.monotonic())
    await index.refresh_once()
    runs = await index.read(job_id, ALICE)
    assert runs.latest.id == second.id
    assert (await index.stats(ALICE)).queued == 1


async def test_a_refresh_that_began_before_a_write_does_not_undo_it() -> None:
    prefect = RecordedPrefect()
    job_id = new_job_id()
    running = job_run(job_id, [state(StateType.SCHEDULED, ago(20)), state(StateType.RUNNING, ago(19))])
    cancelling = in_state(running, state(StateType.CANCELLING, ago(0.2)))
    index = copy_of(prefect)
    began = time.monotonic()
    prefect.add_flow_run(cancelling)
    await index.reload(job_id, ALICE)  # the cancel went through this process: the copy has it at once
    prefect.add_flow_run(running)  # what the slower refresh read, before the cancel
    await index.refresh_once(began)
    assert (await index.read(job_id, ALICE)).latest.state_type == StateType.CANCELLING


async def test_a_job_deleted_in_prefect_goes_at_the_next_whole_read() -> None:
    prefect = RecordedPrefect()
    kept, deleted = new_job_id(), new_job_id()
    prefect.add_flow_run(finished(kept, StateType.COMPLETED, created_ago=300))
    gone = finished(deleted, StateType.COMPLETED, created_ago=200)
    prefect.add_flow_run(gone)
    index = copy_of(prefect)
    began = time.monotonic()
    await index.refresh_once(began)
    prefect.delete_flow_run(gone.id)

    await index.refresh_once(began + 1)
    assert (await page_ids(index, ADMIN))[1] == 2, "a refresh reads only what can have changed"
    # A second past the resync time: `(began + 300) - began` can round to just under 300.
    await index.refresh_once(began + settings.job_index_resync_seconds + 1)
    assert await page_ids(index, ADMIN) == ([kept], 1)
    with pytest.raises(JobNotFound):
        await index.read(deleted, ADMIN)


async def test_a_job_stored_after_its_scheduled_time_left_the_lookback_is_found_by_the_next_pass() -> None:
    """Another process's batch that Prefect took over 30 s to commit (the likely cause of a scale-out run
    under load waiting 30 s in vain for another process's jobs to be listed): no refresh finds its runs by
    time, so Prefect's count of jobs tells the copy to read itself whole."""
    prefect = RecordedPrefect()
    index = copy_of(prefect)
    began = time.monotonic()
    await index.refresh_once(began)
    late = new_job_id()
    prefect.add_flow_run(job_run(late, [state(StateType.SCHEDULED, ago(40))]))

    await index.refresh_once(began + 31)
    assert await page_ids(index, ALICE) == ([], 0), "a refresh reads by time"
    await index.refresh_once(began + 32)
    assert await page_ids(index, ALICE) == ([late], 1)


async def test_a_job_created_elsewhere_is_read_from_prefect_and_kept() -> None:
    prefect = RecordedPrefect()
    index = copy_of(prefect)
    await index.refresh_once()
    job_id = new_job_id()
    prefect.add_flow_run(job_run(job_id, [state(StateType.SCHEDULED, ago(0.1))]))
    assert (await index.read(job_id, ALICE)).job_id == job_id
    assert await page_ids(index, ALICE) == ([job_id], 1)


async def test_a_copy_not_refreshed_for_too_long_is_not_used() -> None:
    prefect = RecordedPrefect()
    prefect.add_flow_run(finished(new_job_id(), StateType.COMPLETED, created_ago=100))
    index = copy_of(prefect)
    await index.refresh_once(time.monotonic() - settings.job_index_max_age_seconds - 1)
    assert not index.fresh
    newer = new_job_id()
    prefect.add_flow_run(job_run(newer, [state(StateType.SCHEDULED, ago(1))]))
    ids, total = await page_ids(index, ADMIN)
    assert ids[0] == newer and total == 2, "read from Prefect"
    assert (await index.stats(ADMIN)).queued == 1
    assert prefect.calls[-1] == "count_flow_runs"


async def test_while_prefect_is_away_reads_fail_instead_of_answering_from_an_old_copy() -> None:
    prefect = RecordedPrefect()
    job_id = new_job_id()
    prefect.add_flow_run(finished(job_id, StateType.COMPLETED, created_ago=100))
    index = copy_of(prefect)
    await index.refresh_once()
    assert index.fresh
    prefect.reachable = False
    await index.loop(loops=1)
    assert not index.fresh
    with pytest.raises(httpx.TransportError):
        await index.page(ADMIN, statuses=[], limit=10, offset=0)
    with pytest.raises(httpx.TransportError):
        await index.read(job_id, ADMIN)
    prefect.reachable = True
    await index.loop(loops=1)
    assert index.fresh and await page_ids(index, ADMIN) == ([job_id], 1)
