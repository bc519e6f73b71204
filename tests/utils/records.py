"""Prefect records of a job as the server stores them: flow runs, stage task runs, logs, artifacts.

Plain pydantic objects, made the way the flow and the server make them (tags, parameters,
`state_id`/`state_type`, the progress and failure artifacts of `flows.contract.artifacts`),
for `tests.utils.recorded.RecordedPrefect` and for the functions that read them.
"""

import uuid
from datetime import datetime

from prefect.client.schemas.objects import Artifact, FlowRun, Log, State, StateType, TaskRun

from flows.contract.artifacts import FAILURE_KEY, PROGRESS_TYPE, JobFailure, StageProgress
from flows.contract.request import VideoRequest
from flows.contract.status import LATEST_TAG, job_tag, owner_tag
from tests.utils.factories import make_request

FLOW_ID = uuid.uuid4()
RUNNING_TYPES = (StateType.RUNNING,)


def state(kind: StateType, at: datetime, name: str | None = None, message: str = "") -> State:
    """A state at `at`; its name is the type's (`Running`) unless given (`AwaitingRetry`, `Retrying`)."""
    return State(type=kind, name=name or kind.value.title(), timestamp=at, message=message)


def job_run(
    job_id: str,
    history: list[State],
    *,
    attempt: int = 1,
    owner: str = "alice",
    latest: bool = True,
    request: VideoRequest | None = None,
    correlation_id: str = "corr-1",
) -> FlowRun:
    """An attempt of a job as `commands.submit` makes it, in the last state of `history` (oldest first)."""
    created = history[0].timestamp
    last = history[-1]
    started = next((s.timestamp for s in history if s.type in RUNNING_TYPES), None)
    return FlowRun(
        id=uuid.uuid4(),
        name=f"{job_id}-{attempt}",
        flow_id=FLOW_ID,
        created=created,
        expected_start_time=created,
        parameters={
            "request": (request or make_request()).model_dump(mode="json", by_alias=True),
            "job_id": job_id,
            "attempt": attempt,
            "correlation_id": correlation_id,
        },
        tags=[job_tag(job_id), owner_tag(owner), *([LATEST_TAG] if latest else [])],
        state=last,
        state_id=last.id,
        state_type=last.type,
        state_name=last.name,
        start_time=started,
        end_time=last.timestamp if last.is_final() else None,
    )


def in_state(run: FlowRun, new: State) -> FlowRun:
    """The same run, moved on to `new` (with its end time once that is final)."""
    return run.model_copy(
        update={
            "state": new,
            "state_id": new.id,
            "state_type": new.type,
            "state_name": new.name,
            "start_time": run.start_time or (new.timestamp if new.type == StateType.RUNNING else None),
            "end_time": new.timestamp if new.is_final() else None,
        }
    )


def untagged(run: FlowRun) -> FlowRun:
    """The run once a newer attempt took the newest-attempt tag from it."""
    return run.model_copy(update={"tags": [tag for tag in run.tags if tag != LATEST_TAG]})


def stage_run(flow_run: FlowRun, stage: str, history: list[State]) -> TaskRun:
    """A stage's task run (named after its stage) in the last state of `history`."""
    last = history[-1]
    runs = [s for s in history if s.type == StateType.RUNNING]
    return TaskRun(
        id=uuid.uuid4(),
        name=stage,
        flow_run_id=flow_run.id,
        task_key=f"flows.stages.{stage}",
        dynamic_key="0",
        created=history[0].timestamp,
        state=last,
        state_id=last.id,
        state_type=last.type,
        state_name=last.name,
        run_count=len(runs),
        start_time=runs[0].timestamp if runs else None,
        end_time=last.timestamp if last.is_final() else None,
    )


def progress_artifact(
    flow_run: FlowRun,
    stage: str,
    percent: float,
    *,
    created: datetime,
    updated: datetime | None = None,
    current: int = 0,
    total: int = 0,
    message: str = "",
    artifact_id: uuid.UUID | None = None,
) -> Artifact:
    """A stage's progress artifact; the same `artifact_id` with a later `updated` is that artifact updated."""
    progress = StageProgress(stage=stage, current_item=current, total_items=total, message=message)
    return Artifact(
        id=artifact_id or uuid.uuid4(),
        created=created,
        updated=updated or created,
        type=PROGRESS_TYPE,
        data=percent,
        description=progress.model_dump_json(),
        flow_run_id=flow_run.id,
    )


def failure_artifact(flow_run: FlowRun, failure: JobFailure, *, at: datetime, key: str = FAILURE_KEY) -> Artifact:
    """The markdown artifact a failed attempt stores (`flows.runtime.reporting.record_failure`)."""
    return Artifact(
        id=uuid.uuid4(),
        created=at,
        updated=at,
        key=key,
        type="markdown",
        data=f"**{failure.code}** in `{failure.stage}`: {failure.message}",
        description=failure.model_dump_json(),
        flow_run_id=flow_run.id,
    )


def log_line(
    flow_run: FlowRun,
    message: str,
    *,
    at: datetime,
    stored: datetime | None = None,
    level: int = 20,
    task_run: TaskRun | None = None,
) -> Log:
    """A log line written at `at` and stored by the server at `stored` (later: logs go in batches)."""
    return Log(
        id=uuid.uuid4(),
        created=stored or at,
        name="aura.job",
        level=level,
        message=message,
        timestamp=at,
        flow_run_id=flow_run.id,
        task_run_id=task_run.id if task_run else None,
    )
