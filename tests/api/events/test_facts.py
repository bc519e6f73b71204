"""Facts from Prefect's records and events: the same state gives the same fact whichever way it arrives."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prefect.client.schemas.objects import Artifact, StateType
from prefect.events.schemas.events import ReceivedEvent

from api.events.facts import (
    FlowState,
    Progress,
    TaskState,
    fact_from_event,
    flow_state_facts,
    log_fact,
    progress_fact,
    run_end_fact,
    stage_of_task_run,
)
from flows.contract.artifacts import JobFailure
from tests.utils.factories import new_job_id
from tests.utils.records import failure_artifact, job_run, log_line, progress_artifact, state

START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def received(event: dict[str, Any], *, late: float = 0.0) -> ReceivedEvent:
    """The event as the server stores and streams it: received `late` seconds after it occurred."""
    return ReceivedEvent.model_validate(event | {"received": event["occurred"] + timedelta(seconds=late)})


def flow_run_event(flow_run_id: uuid.UUID, name: str, kind: StateType | None, *, event_id: uuid.UUID) -> ReceivedEvent:
    """A flow-run event as Prefect's server emits it: the state's id and time are the event's."""
    resource = {"prefect.resource.id": f"prefect.flow-run.{flow_run_id}", "prefect.resource.name": "bee-run"}
    if kind is not None:
        resource |= {"prefect.state-type": kind.value, "prefect.state-name": name, "prefect.state-message": ""}
    return received(
        {"id": event_id, "occurred": at(1), "event": f"prefect.flow-run.{name}", "resource": resource, "related": []}
    )


def task_run_event(
    task_run_id: uuid.UUID, flow_run_id: uuid.UUID, name: str, state_name: str, when: datetime, *, late: float = 0.0
) -> ReceivedEvent:
    """A task-run state event as the flow process emits it (its id the state's), the flow run among its related."""
    return received(
        {
            "id": uuid.uuid4(),
            "occurred": when,
            "event": f"prefect.task-run.{state_name}",
            "resource": {
                "prefect.resource.id": f"prefect.task-run.{task_run_id}",
                "prefect.resource.name": name,
                "prefect.state-name": state_name,
            },
            "related": [
                {"prefect.resource.id": f"prefect.flow-run.{flow_run_id}", "prefect.resource.role": "flow-run"},
                {"prefect.resource.id": "prefect.tag.aura-latest", "prefect.resource.role": "tag"},
            ],
        },
        late=late,
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


def test_a_stage_state_is_placed_when_the_server_received_it_and_shows_its_own_time() -> None:
    """A flow process that resent its events after a Prefect replica died: every API process places
    the state where it arrived, the same from the stream or from the stored event."""
    task_run_id, flow_run_id = uuid.uuid4(), uuid.uuid4()
    event = task_run_event(task_run_id, flow_run_id, "render", "Completed", at(5), late=0.4)
    told = fact_from_event(event)
    assert told is not None
    run_id, fact, stage_of = told
    assert run_id == flow_run_id and stage_of == (task_run_id, "render")
    assert isinstance(fact, TaskState) and (fact.stage, fact.status) == ("render", "completed")
    assert (fact.at, fact.occurred, fact.ref) == (at(5.4), at(5), f"task-state:{event.id}")
    assert fact_from_event(ReceivedEvent.model_validate_json(event.model_dump_json())) == told


@pytest.mark.parametrize(("name", "state_name"), [("render", "Pending"), ("render-8c2", "Running")])
def test_a_stage_event_that_is_no_step_event_still_names_the_stage_of_its_task_run(name: str, state_name: str) -> None:
    task_run_id = uuid.uuid4()
    told = fact_from_event(task_run_event(task_run_id, uuid.uuid4(), name, state_name, at(1)))
    assert told is not None and told[1] is None and told[2] == (task_run_id, "render")


def test_events_of_other_tasks_and_without_their_flow_run_are_ignored() -> None:
    assert fact_from_event(task_run_event(uuid.uuid4(), uuid.uuid4(), "helper", "Completed", at(1))) is None
    event = task_run_event(uuid.uuid4(), uuid.uuid4(), "render", "Running", at(1))
    assert fact_from_event(event.model_copy(update={"related": []})) is None


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
