"""The recorded Prefect applies the filters it is given as the server does, and refuses the ones it cannot."""

from datetime import UTC, datetime, timedelta

import pytest
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterName,
    FlowRunFilter,
    FlowRunFilterEndTime,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterId,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
    FlowRunFilterWorkQueueName,
    LogFilter,
    LogFilterFlowRunId,
    LogFilterTimestamp,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import FlowRunSort

from api.prefect_client import PrefectUnreachable
from flows.contract.status import LATEST_TAG, job_tag, owner_tag
from tests.utils.recorded import RecordedPrefect
from tests.utils.records import job_run, log_line, state, untagged

pytestmark = pytest.mark.anyio
START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def recorded() -> RecordedPrefect:
    prefect = RecordedPrefect()
    prefect.add_flow_run(job_run("job-a", [state(StateType.SCHEDULED, at(0)), state(StateType.COMPLETED, at(5))]))
    prefect.add_flow_run(untagged(job_run("job-b", [state(StateType.RUNNING, at(10))], owner="bob")))
    prefect.add_flow_run(job_run("job-b", [state(StateType.SCHEDULED, at(20))], owner="bob", attempt=2))
    return prefect


async def jobs(prefect: RecordedPrefect, **query: object) -> list[tuple[str, int]]:
    runs = await prefect.read_flow_runs(**query)  # type: ignore[arg-type]
    return [(run.parameters["job_id"], run.parameters["attempt"]) for run in runs]


async def test_tags_states_and_ids_filter_as_the_server_does() -> None:
    prefect = recorded()
    by_expected = FlowRunSort.EXPECTED_START_TIME_ASC
    latest = FlowRunFilter(tags=FlowRunFilterTags(all_=[LATEST_TAG]))
    assert await jobs(prefect, flow_run_filter=latest, sort=by_expected) == [("job-a", 1), ("job-b", 2)]
    bobs = FlowRunFilter(tags=FlowRunFilterTags(all_=[owner_tag("bob")], any_=[job_tag("job-a"), job_tag("job-b")]))
    assert await jobs(prefect, flow_run_filter=bobs, sort=by_expected) == [("job-b", 1), ("job-b", 2)]
    running = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING])))
    assert await jobs(prefect, flow_run_filter=running) == [("job-b", 1)]
    first = (await prefect.read_flow_runs(flow_run_filter=latest, sort=by_expected))[0]
    others = FlowRunFilter(id=FlowRunFilterId(not_any_=[first.id]))
    assert ("job-a", 1) not in await jobs(prefect, flow_run_filter=others)
    assert await prefect.count_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[]))) == 0


async def test_time_windows_are_inclusive_and_never_match_a_missing_time() -> None:
    prefect = recorded()
    since = FlowRunFilter(expected_start_time=FlowRunFilterExpectedStartTime(after_=at(10)))  # type: ignore[arg-type]
    assert sorted(await jobs(prefect, flow_run_filter=since)) == [("job-b", 1), ("job-b", 2)]
    ended = FlowRunFilter(end_time=FlowRunFilterEndTime(after_=at(0)))  # type: ignore[arg-type]
    assert await jobs(prefect, flow_run_filter=ended) == [("job-a", 1)]


async def test_sort_limit_and_offset_page_the_answer() -> None:
    prefect = recorded()
    newest = FlowRunSort.EXPECTED_START_TIME_DESC
    assert await jobs(prefect, sort=newest, limit=2) == [("job-b", 2), ("job-b", 1)]
    assert await jobs(prefect, sort=newest, limit=2, offset=2) == [("job-a", 1)]


async def test_only_runs_of_the_video_deployment_exist() -> None:
    prefect = recorded()
    cleanup = DeploymentFilter(name=DeploymentFilterName(any_=["cleanup-sweep"]))
    video = DeploymentFilter(name=DeploymentFilterName(any_=["generate-video"]))
    assert await prefect.count_flow_runs(deployment_filter=cleanup) == 0
    assert await prefect.count_flow_runs(deployment_filter=video) == 3


async def test_logs_filter_by_run_and_time_oldest_first() -> None:
    prefect = recorded()
    run = (await prefect.read_flow_runs(limit=1))[0]
    other = (await prefect.read_flow_runs(limit=1, offset=1))[0]
    prefect.add_logs(log_line(run, "late", at=at(3)), log_line(run, "early", at=at(1)), log_line(other, "x", at=at(2)))
    found = await prefect.read_logs(
        LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id]), timestamp=LogFilterTimestamp(after_=at(1)))  # type: ignore[arg-type]
    )
    assert [log.message for log in found] == ["early", "late"]


async def test_a_filter_it_cannot_apply_is_refused_rather_than_ignored() -> None:
    prefect = recorded()
    by_queue = FlowRunFilter(work_queue_name=FlowRunFilterWorkQueueName(any_=["priority-1"]))
    with pytest.raises(NotImplementedError, match="work_queue_name"):
        await prefect.read_flow_runs(flow_run_filter=by_queue)


async def test_an_answer_is_a_copy_and_an_unreachable_prefect_refuses_every_call() -> None:
    prefect = recorded()
    run = (await prefect.read_flow_runs(limit=1))[0]
    run.tags.append("changed by the code")
    assert "changed by the code" not in prefect.flow_runs[run.id].tags
    prefect.reachable = False
    with pytest.raises(PrefectUnreachable):
        await prefect.read_flow_runs()
