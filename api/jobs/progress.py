"""A job's progress as Prefect stores it: the stages' progress artifacts (`flows.contract.artifacts`).

Each stage run keeps one progress artifact; the newest one is the stage that started last (voice and
visuals run side by side, so another may still be running).
"""

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterType,
    FlowRunFilter,
    FlowRunFilterName,
)
from prefect.client.schemas.objects import Artifact, FlowRun
from prefect.client.schemas.sorting import ArtifactSort

from flows.contract.artifacts import PROGRESS_TYPE, StageProgress, progress_of
from flows.contract.stages import STAGES, overall_percent


@dataclass(frozen=True)
class Snapshot:
    state: str
    final: bool
    stage: str | None
    stage_percent: float
    percent: float
    message: str
    current_item: int
    total_items: int
    # Every stage of the attempt so far: how far along (0-100), and when it started.
    stage_percents: dict[str, float] = field(default_factory=dict)
    stages_started_at: dict[str, datetime] = field(default_factory=dict)


WAITING = Snapshot(
    state="Pending",
    final=False,
    stage=None,
    stage_percent=0.0,
    percent=0.0,
    message="waiting to start",
    current_item=0,
    total_items=0,
)


def stage_snapshot(artifacts: Iterable[Artifact]) -> Snapshot:
    """Progress from one flow run's artifacts, oldest first; other kinds of artifact are skipped.

    The stage it shows is the newest one still going: while voice and visuals run side by side, the
    one that finished first does not hide the one still at work.
    """
    # Each stage's newest progress, in the order the stages last started (a retry moves one to the end).
    newest: dict[str, StageProgress] = {}
    percents: dict[str, float] = {}
    started: dict[str, datetime] = {}
    percent = 0.0
    for artifact in artifacts:
        found = progress_of(artifact)
        if found is None:
            continue
        progress, stage_percent = found
        percents[progress.stage] = stage_percent
        newest.pop(progress.stage, None)
        newest[progress.stage] = progress
        if artifact.created:
            started[progress.stage] = artifact.created
        percent = max(percent, overall_percent(percents))
    if not newest:
        return WAITING
    going = [stage for stage in newest if percents[stage] < 100.0]
    shown = newest[going[-1] if going else next(reversed(newest))]
    return replace(
        WAITING,
        stage=shown.stage,
        stage_percent=percents[shown.stage],
        percent=percent,
        message=shown.message,
        current_item=shown.current_item,
        total_items=shown.total_items,
        stage_percents=percents,
        stages_started_at=started,
    )


def find_flow_run(client: Any, name: str) -> FlowRun | None:
    """The flow run named `name` (a job run in this process is named after its job id), sync client."""
    runs: list[FlowRun] = client.read_flow_runs(
        flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name])), limit=1
    )
    return runs[0] if runs else None


def read_snapshot(client: Any, flow_run_id: UUID) -> Snapshot:
    """Where a flow run stands now, in one read of the run and one of its artifacts (sync client)."""
    flow_run = client.read_flow_run(flow_run_id)
    artifacts = client.read_artifacts(
        artifact_filter=ArtifactFilter(
            type=ArtifactFilterType(any_=[PROGRESS_TYPE]),
            flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
        ),
        sort=ArtifactSort.CREATED_DESC,
        limit=len(STAGES) * 4,
    )
    state = flow_run.state
    snapshot = replace(
        stage_snapshot(reversed(artifacts)),
        state=state.name if state else "Pending",
        final=bool(state and state.is_final()),
    )
    if state and state.is_completed():
        snapshot = replace(snapshot, percent=100.0)
    return snapshot
