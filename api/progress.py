"""A job's progress as Prefect stores it: flow-run state plus the stages' progress artifacts.

Each stage task keeps one progress artifact whose description is a JSON object
(`flows.reporting`); the newest one is the stage running now.
"""

import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterType,
    FlowRunFilter,
    FlowRunFilterName,
)
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.sorting import ArtifactSort

from flows.pipeline import STAGES, overall_percent


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


def find_flow_run(client: Any, name: str) -> FlowRun | None:
    runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name])), limit=1)
    return runs[0] if runs else None


def read_snapshot(client: Any, flow_run_id: UUID) -> Snapshot:
    """Where a flow run stands now, in one read of the run and one of its artifacts."""
    flow_run = client.read_flow_run(flow_run_id)
    artifacts = client.read_artifacts(
        artifact_filter=ArtifactFilter(
            type=ArtifactFilterType(any_=["progress"]),
            flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
        ),
        sort=ArtifactSort.CREATED_DESC,
        limit=len(STAGES) * 4,
    )
    state = flow_run.state
    snapshot = Snapshot(
        state=state.name if state else "Pending",
        final=bool(state and state.is_final()),
        stage=None, stage_percent=0.0, percent=0.0, message="waiting to start",
        current_item=0, total_items=0,
    )
    for artifact in reversed(artifacts):
        detail = json.loads(artifact.description or "{}")
        stage = detail.get("stage")
        if stage not in STAGES:
            continue
        stage_percent = float(artifact.data or 0.0)
        snapshot = Snapshot(
            state=snapshot.state, final=snapshot.final, stage=stage, stage_percent=stage_percent,
            percent=max(snapshot.percent, overall_percent(stage, stage_percent)),
            message=detail.get("message", ""), current_item=detail.get("currentItem", 0),
            total_items=detail.get("totalItems", 0),
        )
    if state and state.is_completed():
        snapshot = Snapshot(**{**snapshot.__dict__, "percent": 100.0})
    return snapshot
