"""What Prefect stores about a job, as facts in the order they happened.

Each fact carries the stored time that places it in the job's stream, chosen
so that any API process, reading the same records, puts them in the same
order and gives them the same event ids:

- flow-run states: their timestamp, which the Prefect server sets;
- task-run states: their timestamp (set by the flow process; Prefect's task
  run recorder stores them a few tenths of a second later, which the settle
  delay of the stream covers);
- log lines: when the server stored them (`created`), not when they were
  written: the flow process sends them in batches every 2 s, so their own
  timestamps arrive out of order;
- progress: when the stage's progress artifact was last updated (the server
  keeps only the newest value, so a replay shows each stage's latest progress);
- the end of an attempt: a fixed grace after its final state, so the run's
  last log lines come before it.
"""

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from prefect.client.schemas.objects import Artifact, FlowRun, Log, State, StateType, TaskRun

from flows.pipeline import STAGES

PREFIX = re.compile(r"^job=\S+ correlation=\S+ \| ")
STEP_STATUS_OF_STATE = {
    "Running": "started", "Retrying": "started", "AwaitingRetry": "retrying", "Completed": "completed",
    "Cached": "cached", "Failed": "failed", "Crashed": "crashed", "Cancelling": "cancelled",
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
    status: str

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


def flow_state_facts(flow_run: FlowRun, states: list[State], *, end_grace: float) -> list[Fact]:
    facts: list[Fact] = [
        FlowState(state.timestamp, flow_run.id, ref=f"flow-state:{state.id}", type=state.type,
                  name=state.name or state.type.value, message=state.message or "")
        for state in states
    ]
    final = states[-1] if states else None
    if final and final.is_final():
        facts.append(RunEnd(final.timestamp + timedelta(seconds=end_grace), flow_run.id, ref=f"end:{flow_run.id}",
                            type=final.type, ended_at=final.timestamp, started_at=flow_run.start_time))
    return facts


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
            # Named by run, state and time, not state id: a history told from the run has no state ids.
            ref = f"task-state:{task_run.id}:{state.name}:{state.timestamp.isoformat()}"
            facts.append(TaskState(state.timestamp, task_run.flow_run_id, ref=ref, stage=stage, status=status))
    return facts


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
    return LogLine(log.created or log.timestamp, log.flow_run_id, ref=f"log:{log.id}",  # type: ignore[arg-type]
                   timestamp=log.timestamp, level=log.level, task_run_id=log.task_run_id,
                   message=PREFIX.sub("", log.message))


def progress_fact(artifact: Artifact) -> Progress | None:
    if artifact.type != "progress" or artifact.flow_run_id is None:
        return None
    detail = json.loads(artifact.description or "{}")
    stage = detail.get("stage")
    if stage not in STAGES:
        return None
    updated = artifact.updated or artifact.created
    return Progress(updated, artifact.flow_run_id, ref=f"progress:{artifact.id}:{updated.isoformat()}",  # type: ignore[arg-type, union-attr]
                    stage=stage, artifact_id=artifact.id, stage_percent=float(artifact.data or 0.0),  # type: ignore[arg-type]
                    current_item=int(detail.get("currentItem", 0)), total_items=int(detail.get("totalItems", 0)),
                    message=str(detail.get("message", "")))
