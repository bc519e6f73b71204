"""Facts from Prefect's records and events: the same state gives the same fact whichever way it arrives."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from prefect.client.schemas.objects import Artifact, StateType
from prefect.events.schemas.events import Event

from api.events.facts import (
    FlowState,
    Progress,
    TaskState,
    fact_from_event,
    flow_state_facts,
    log_fact,
    needs_history,
    progress_fact,
    run_end_fact,
    stage_of_task_run,
    task_state_facts,
)
from flows.contract.artifacts import JobFailure
from tests.utils.factories import new_job_id
from tests.utils.records import failure_artifact, job_run, log_line, progress_artifact, stage_run, state

START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def flow_run_event(flow_run_id: uuid.UUID, name: str, kind: StateType | None, *, event_id: uuid.UUID) -> Event:
    """A flow-run event as Prefect's server emits it: the state's id and time are the event's."""
    resource = {"prefect.resource.id": f"prefect.flow-run.{flow_run_id}", "prefect.resource.name": "bee-run"}
    if kind is not None:
        resource |= {"prefect.state-type": kind.value, "prefect.state-name": name, "prefect.state-message": ""}
    return Event(id=event_id, occurred=at(1), event=f"prefect.flow-run.{name}", resource=resource, related=[])


def task_run_event(task_run_id: uuid.UUID, flow_run_id: uuid.UUID, stage: str, name: str, when: datetime) -> Event:
    """A task-run state event as the flow process emits it, the flow run among its related resources."""
    return Event(
        occurred=when,
        event=f"prefect.task-run.{name}",
        resource={
            "prefect.resource.id": f"prefect.task-run.{task_run_id}",
            "prefect.resource.name": stage,
            "prefect.state-name": name,
        },
        related=[
            {"prefect.resource.id": f"prefect.flow-run.{flow_run_id}", "prefect.resource.role": "flow-run"},
            {"prefect.resource.id": "prefect.tag.aura-latest", "prefect.resource.role": "tag"},
        ],
    )


def test_a_flow_run_state_event_tells_the_fact_its_stored_state_gives() -> None:
    running = state(StateType.RUNNING, at(1))
    run = job_run(new_job_id(), [state(StateType.SCHEDULED, at(0)), running])
    told = fact_from_event(flow_run_event(run.id, "Running", StateType.RUNNING, event_id=running.id))
    assert told is not None
    flow_run_id, fact, task = told
    assert flow_run_id == run.id and task is None
    assert fact == flow_state_facts(run, [running])[0]
    assert isinstance(fact, FlowState) and fact.type == StateType.RUNNING and fact.at == at(1)


def test_a_heartbeat_is_not_a_state_change() -> None:
    assert fact_from_event(flow_run_event(uuid.uuid4(), "heartbeat", None, event_id=uuid.uuid4())) is None


def test_a_stage_state_event_tells_the_fact_its_task_run_gives() -> None:
    run = job_run(new_job_id(), [state(StateType.RUNNING, at(0))])
    task = stage_run(run, "render", [state(StateType.RUNNING, at(2)), state(StateType.COMPLETED, at(5))])
    told = fact_from_event(task_run_event(task.id, run.id, "render", "Completed", at(5)))
    assert told is not None
    flow_run_id, fact, stage_of = told
    assert flow_run_id == run.id and stage_of == (task.id, "render")
    assert isinstance(fact, TaskState) and (fact.stage, fact.status, fact.at) == ("render", "completed", at(5))
    assert fact in task_state_facts(task, None)


@pytest.mark.parametrize(
    ("stage", "name"),
    [
        ("render", "Pending"),  # not a step event
        ("helper", "Completed"),  # not a stage of the pipeline
    ],
)
def test_task_events_that_are_no_step_event_are_ignored(stage: str, name: str) -> None:
    assert fact_from_event(task_run_event(uuid.uuid4(), uuid.uuid4(), stage, name, at(1))) is None


def test_a_task_event_without_its_flow_run_is_ignored() -> None:
    event = task_run_event(uuid.uuid4(), uuid.uuid4(), "render", "Running", at(1))
    assert fact_from_event(event.model_copy(update={"related": []})) is None


def test_a_stage_that_retried_is_told_from_its_history_with_the_wait_between() -> None:
    run = job_run(new_job_id(), [state(StateType.RUNNING, at(0))])
    history = [
        state(StateType.PENDING, at(1)),
        state(StateType.RUNNING, at(2)),
        state(StateType.SCHEDULED, at(3), name="AwaitingRetry"),
        state(StateType.RUNNING, at(8), name="Retrying"),
        state(StateType.COMPLETED, at(9)),
    ]
    task = stage_run(run, "voice", history)
    assert needs_history(task)
    facts = task_state_facts(task, history)
    assert [(fact.status, fact.at) for fact in facts if isinstance(fact, TaskState)] == [
        ("started", at(2)),
        ("retrying", at(3)),
        ("started", at(8)),
        ("completed", at(9)),
    ]


def test_a_stage_run_once_is_told_from_the_run_itself() -> None:
    run = job_run(new_job_id(), [state(StateType.RUNNING, at(0))])
    task = stage_run(run, "script", [state(StateType.RUNNING, at(1)), state(StateType.COMPLETED, at(4))])
    assert not needs_history(task)
    assert [(f.status, f.at) for f in task_state_facts(task, None) if isinstance(f, TaskState)] == [
        ("started", at(1)),
        ("completed", at(4)),
    ]


def test_an_attempt_ends_after_the_grace_for_its_last_log_lines() -> None:
    running = job_run(new_job_id(), [state(StateType.RUNNING, at(0))])
    assert run_end_fact(running, end_grace=3) is None
    done = job_run(new_job_id(), [state(StateType.RUNNING, at(0)), state(StateType.COMPLETED, at(10))])
    end = run_end_fact(done, end_grace=3)
    assert end is not None and end.at == at(13) and end.ended_at == at(10) and end.started_at == at(0)


def test_a_log_line_is_placed_when_stored_and_loses_the_job_prefix() -> None:
    run = job_run(new_job_id(), [state(StateType.RUNNING, at(0))])
    line = log_line(run, f"job={new_job_id()} correlation=c-1 | render started", at=at(1), stored=at(3), level=30)
    fact = log_fact(line)
    assert (fact.at, fact.timestamp, fact.level, fact.message) == (at(3), at(1), 30, "render started")


def test_a_log_line_stored_twice_is_one_fact_and_another_line_is_not() -> None:
    """Prefect's client sends a batch again when a replica died before answering: two rows, one line."""
    run = job_run(new_job_id(), [state(StateType.RUNNING, at(0))])
    first = log_line(run, "render started", at=at(1), stored=at(3))
    again = log_line(run, "render started", at=at(1), stored=at(6))
    later = log_line(run, "render started", at=at(2), stored=at(6))
    louder = log_line(run, "render started", at=at(1), stored=at(6), level=30)
    assert log_fact(first).ref == log_fact(again).ref
    assert len({log_fact(line).ref for line in (first, later, louder)}) == 3


@pytest.mark.parametrize(
    "message",
    ["plain line", "a line quoting job=x correlation=y | in the middle", "job=x correlation=y|no spaces"],
)
def test_a_log_line_without_the_prefix_at_its_start_is_kept_whole(message: str) -> None:
    run = job_run(new_job_id(), [state(StateType.RUNNING, at(0))])
    assert log_fact(log_line(run, message, at=at(1))).message == message


def test_progress_comes_from_the_stages_progress_artifact() -> None:
    run = job_run(new_job_id(), [state(StateType.RUNNING, at(0))])
    artifact = progress_artifact(
        run, "render", 40.0, created=at(1), updated=at(2), current=4, total=10, message="second 4 of 10"
    )
    fact = progress_fact(artifact)
    assert isinstance(fact, Progress)
    assert (fact.at, fact.stage, fact.stage_percent, fact.current_item, fact.total_items, fact.message) == (
        at(2),
        "render",
        40.0,
        4,
        10,
        "second 4 of 10",
    )
    later = progress_fact(progress_artifact(run, "render", 90.0, created=at(1), updated=at(3), artifact_id=artifact.id))
    assert later is not None and later.ref != fact.ref, "each update of the artifact is a new fact"


def test_other_artifacts_are_not_progress() -> None:
    run = job_run(new_job_id(), [state(StateType.RUNNING, at(0))])
    failure = JobFailure(code="E304-FFMPEG_RUNTIME", stage="render", message="x", suggested_actions=[], log_tail="")
    unknown_stage = progress_artifact(run, "render", 10, created=at(1)).model_copy(
        update={"description": '{"stage": "upload"}'}
    )
    table = Artifact(id=uuid.uuid4(), type="table", data=[1, 2], description="{}", flow_run_id=run.id, created=at(1))
    orphan = progress_artifact(run, "render", 10, created=at(1)).model_copy(update={"flow_run_id": None})
    for artifact in (failure_artifact(run, failure, at=at(1)), unknown_stage, table, orphan):
        assert progress_fact(artifact) is None


def test_a_task_run_belongs_to_its_stage_by_name_before_and_after_prefect_renames_it() -> None:
    assert [stage_of_task_run(name) for name in ("render", "render-8c2", "voice-a1f")] == ["render", "render", "voice"]
    assert [stage_of_task_run(name) for name in ("cleanup-8c2", "deliver-webhooks", "")] == [None, None, None]
