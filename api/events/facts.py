"""What Prefect stores about a job, as facts in the order they happened.

Each fact carries the stored time that places it in the job's stream, chosen
so that any API process, reading the same records, puts them in the same
order and gives them the same event ids:

- flow-run states: their timestamp, which the Prefect server sets;
- task-run states: their timestamp, set by the flow process. Prefect's task
  run recorder stores them up to a few tenths of a second later, but the
  server's event stream carries the same state (same timestamp) the moment it
  arrives: `fact_from_event` makes the identical fact from it;
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

from prefect.client.schemas.objects import Artifact, FlowRun, Log, State, StateType, TaskRun
from prefect.events.schemas.events import Event

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


def task_state_ref(task_run: TaskRun) -> str | None:
    """The reference of the task run's current state's fact, to tell whether it is already known."""
    state = task_run.state
    return _task_ref(task_run.id, state.name, state.timestamp) if state else None


def stage_of_task_run(name: str) -> str | None:
    """The stage a task run belongs to, by its name: the stage's, or at first Prefect's default
    `<task>-<3 hex>`, which it keeps until the task starts (a stage's task is named as the stage)."""
    stage = name if name in STAGES else name.rsplit("-", 1)[0]
    return stage if stage in STAGES else None


def needs_history(task_run: TaskRun) -> bool:
    """Whether the task run's states can be told from the run itself: one run, no retry, no failure."""
    state = task_run.state
    return task_run.run_count > 1 or state is None or state.name not in ("Pending", "Running", "Completed", "Cached")


def task_state_facts(task_run: TaskRun, states: list[State] | None) -> list[Fact]:
    """Stage events of a task run, from its state history, or from the run when that is all it can be."""
    stage = task_run.name
    if stage not in STAGES or task_run.flow_run_id is None:
        return []
    if states is None:
        states = _simple_history(task_run)
    facts: list[Fact] = []
    for state in states:
        status = STEP_STATUS_OF_STATE.get(state.name or "")
        if status:
            ref = _task_ref(task_run.id, state.name, state.timestamp)
            facts.append(TaskState(state.timestamp, task_run.flow_run_id, ref=ref, stage=stage, status=status))
    return facts


def _task_ref(task_run_id: UUID, state_name: str | None, at: datetime) -> str:
    # By run, state and time, not state id: a history told from the run itself has no state ids.
    return f"task-state:{task_run_id}:{state_name}:{micros(at)}"


def fact_from_event(event: Event) -> tuple[UUID, Fact, tuple[UUID, str] | None] | None:
    """The fact a state-change event from Prefect's event stream tells, the same fact its stored state gives.

    Returns the flow run it belongs to, the fact, and for a task run its id and stage.
    """
    kind, _, state_name = event.event.removeprefix("prefect.").partition(".")
    resource = event.resource
    if kind == "flow-run":
        if "prefect.state-type" not in resource:
            return None  # a heartbeat, not a state change
        state_type = StateType(resource["prefect.state-type"])
        fact: Fact = FlowState(
            event.occurred,
            resource.prefect_object_id("prefect.flow-run"),
            ref=f"flow-state:{event.id}",
            type=state_type,
            name=state_name,
            message=resource.get("prefect.state-message") or "",
        )
        return fact.flow_run_id, fact, None
    status = STEP_STATUS_OF_STATE.get(state_name)
    stage = resource.get("prefect.resource.name")
    flow_runs = [related for related in event.related if related.role == "flow-run"]
    if kind != "task-run" or status is None or stage not in STAGES or not flow_runs:
        return None
    task_run_id = resource.prefect_object_id("prefect.task-run")
    flow_run_id = flow_runs[0].prefect_object_id("prefect.flow-run")
    fact = TaskState(
        event.occurred, flow_run_id, ref=_task_ref(task_run_id, state_name, event.occurred), stage=stage, status=status
    )
    return flow_run_id, fact, (task_run_id, stage)


def _simple_history(task_run: TaskRun) -> list[State]:
    # For a run with one attempt and no failure, start_time is its Running state's timestamp.
    state = task_run.state
    if state is None:
        return []
    started = []
    if task_run.start_time and state.name in ("Running", "Completed"):
        started = [State(type=StateType.RUNNING, name="Running", timestamp=task_run.start_time)]
    if state.name == "Running":
        return started
    return [*started, state]


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
