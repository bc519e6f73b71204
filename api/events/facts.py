"""What Prefect stores about a job, as facts in the order they happened.

Each fact carries the stored time that places it in the job's stream, chosen
so that any API process, reading the same records, puts them in the same
order and gives them the same event ids:

- flow-run states: their timestamp, which the Prefect server sets;
- task-run states: when the server received their event (`received`). The
  flow process sends them over a websocket, so their own timestamps reach the
  server late now and then: by a few tenths of a second when it is busy, and
  by more when a Prefect replica dies mid-send and the events are sent again.
  The live stream (`api.events.stream`) and Prefect's stored events carry the
  same `received`, so `fact_from_event` makes the identical fact from either;
- log lines: when the server stored them (`created`), not when they were
  written: the flow process sends them in batches every 2 s, so their own
  timestamps arrive out of order;
- progress: when the stage's progress artifact was last updated (the server
  keeps only the newest value, so a replay shows each stage's latest progress);
- the end of an attempt: a fixed grace after its final state, so the run's
  last log lines come before it.
"""

import calendar
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID

from prefect.client.schemas.objects import Artifact, FlowRun, Log, State, StateType
from prefect.events.schemas.events import ReceivedEvent

from api.jobs.logs import what_it_says
from flows.contract.artifacts import progress_of
from flows.contract.stages import STAGES


def micros(at: datetime) -> int:
    """Microseconds since the epoch, in integers: Prefect's datetimes are pendulum's, whose arithmetic differs."""
    return calendar.timegm(at.utctimetuple()) * 1_000_000 + at.microsecond


PREFIX = re.compile(r"^job=\S+ correlation=\S+ \| ")
# A stage's step status, and "crashed", which the timeline turns into failed or cancelled.
TaskStatus = Literal["started", "retrying", "completed", "cached", "failed", "crashed", "cancelled"]
STEP_STATUS_OF_STATE: dict[str, TaskStatus] = {
    "Running": "started",
    "Retrying": "started",
    "AwaitingRetry": "retrying",
    "Completed": "completed",
    "Cached": "cached",
    "Failed": "failed",
    "Crashed": "crashed",
    "Cancelling": "cancelled",
    "Cancelled": "cancelled",
}


@dataclass(frozen=True)
class Fact:
    at: datetime
    flow_run_id: UUID
    ref: str = field(kw_only=True)

    rank = 0

    def order(self) -> tuple[datetime, int, str]:
        return (self.at, self.rank, self.ref)


@dataclass(frozen=True)
class FlowState(Fact):
    type: StateType
    name: str
    message: str

    rank = 0


@dataclass(frozen=True)
class TaskState(Fact):
    stage: str
    status: TaskStatus
    occurred: datetime  # the state's own time, which the event shows

    rank = 1


@dataclass(frozen=True)
class Progress(Fact):
    stage: str
    artifact_id: UUID
    stage_percent: float
    current_item: int
    total_items: int
    message: str

    rank = 2


@dataclass(frozen=True)
class LogLine(Fact):
    timestamp: datetime
    level: int
    task_run_id: UUID | None
    message: str

    rank = 3


@dataclass(frozen=True)
class RunEnd(Fact):
    """The attempt is over and its log lines are in: the stream's terminal event."""

    type: StateType
    ended_at: datetime
    started_at: datetime | None

    rank = 4


def flow_state_facts(flow_run: FlowRun, states: list[State]) -> list[Fact]:
    return [
        FlowState(
            state.timestamp,
            flow_run.id,
            ref=f"flow-state:{state.id}",
            type=state.type,
            name=state.name or state.type.value,
            message=state.message or "",
        )
        for state in states
    ]


def run_end_fact(flow_run: FlowRun, *, end_grace: float) -> RunEnd | None:
    """The end of an attempt, `end_grace` seconds after its final state, once it has one."""
    final = flow_run.state
    if final is None or not final.is_final():
        return None
    return RunEnd(
        final.timestamp + timedelta(seconds=end_grace),
        flow_run.id,
        ref=f"end:{flow_run.id}",
        type=final.type,
        ended_at=final.timestamp,
        started_at=flow_run.start_time,
    )


def stage_of_task_run(name: str) -> str | None:
    """The stage a task run belongs to, by its name: the stage's, or at first Prefect's default
    `<task>-<3 hex>`, which it keeps until the task starts (a stage's task is named as the stage)."""
    stage = name if name in STAGES else name.rsplit("-", 1)[0]
    return stage if stage in STAGES else None


# What a state-change event tells: its flow run, its fact (if any), and for a task run its id and stage.
Told = tuple[UUID, Fact | None, tuple[UUID, str] | None]


def fact_from_event(event: ReceivedEvent) -> Told | None:
    """The fact a state-change event tells, whether it came on Prefect's stream or from its stored events.

    Returns the flow run it belongs to, the fact (None for a stage's event that is no step event,
    such as Pending), and for a task run its id and stage.
    """
    kind, _, state_name = event.event.removeprefix("prefect.").partition(".")
    resource = event.resource
    if kind == "flow-run":
        if "prefect.state-type" not in resource:
            return None  # a heartbeat, not a state change
        # The event's time is the state's, which the server set: the fact its stored state gives.
        fact: Fact = FlowState(
            event.occurred,
            resource.prefect_object_id("prefect.flow-run"),
            ref=f"flow-state:{event.id}",
            type=StateType(resource["prefect.state-type"]),
            name=state_name,
            message=resource.get("prefect.state-message") or "",
        )
        return fact.flow_run_id, fact, None
    name = resource.get("prefect.resource.name") or ""
    stage = stage_of_task_run(name)
    flow_runs = [related for related in event.related if related.role == "flow-run"]
    if kind != "task-run" or stage is None or not flow_runs:
        return None
    task_run_id = resource.prefect_object_id("prefect.task-run")
    flow_run_id = flow_runs[0].prefect_object_id("prefect.flow-run")
    status = STEP_STATUS_OF_STATE.get(state_name)
    if status is None or name != stage:
        return flow_run_id, None, (task_run_id, stage)
    fact = TaskState(
        event.received,
        flow_run_id,
        ref=f"task-state:{event.id}",
        stage=stage,
        status=status,
        occurred=event.occurred,
    )
    return flow_run_id, fact, (task_run_id, stage)


def log_fact(log: Log) -> LogLine:
    """The line, known by what it says (`what_it_says`): the same line stored twice is one event."""
    said = hashlib.sha256(repr(what_it_says(log)).encode())
    return LogLine(
        log.created or log.timestamp,
        log.flow_run_id,  # type: ignore[arg-type]  # logs are read by flow run, so never None
        ref=f"log:{log.flow_run_id}:{said.hexdigest()[:24]}",
        timestamp=log.timestamp,
        level=log.level,
        task_run_id=log.task_run_id,
        message=PREFIX.sub("", log.message),
    )


def progress_fact(artifact: Artifact) -> Progress | None:
    """A stage's progress, from its progress artifact; None for other artifacts."""
    found = progress_of(artifact)
    updated = artifact.updated or artifact.created
    if found is None or artifact.flow_run_id is None or updated is None:
        return None
    progress, stage_percent = found
    return Progress(
        updated,
        artifact.flow_run_id,
        ref=f"progress:{artifact.id}:{micros(updated)}",
        stage=progress.stage,
        artifact_id=artifact.id,
        stage_percent=stage_percent,
        current_item=progress.current_item,
        total_items=progress.total_items,
        message=progress.message,
    )
