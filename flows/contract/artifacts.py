"""The artifacts a flow run writes for the service to read: one pydantic model each.

- Progress: each stage run keeps one Prefect progress artifact. Its `data` is the
  stage's percent and its description is a `StageProgress` as JSON.
- Failure: a failed attempt stores one artifact under the key `job-error`. Its
  description is a `JobFailure` as JSON.

The flow writes them with these models and the API reads them with the same ones,
so neither side parses the other's JSON by hand.
"""

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from flows.contract.stages import STAGES

if TYPE_CHECKING:
    from prefect.client.schemas.objects import Artifact

PROGRESS_TYPE = "progress"
FAILURE_KEY = "job-error"


class ArtifactModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)


class StageProgress(ArtifactModel):
    """Where one stage run stands; the stage's percent is the artifact's `data`."""

    stage: str
    current_item: int = Field(default=0, ge=0)
    total_items: int = Field(default=0, ge=0)
    message: str = ""

    @field_validator("stage")
    @classmethod
    def _known_stage(cls, value: str) -> str:
        if value not in STAGES:
            raise ValueError(f"not a stage: {value!r}; the stages are {', '.join(STAGES)}")
        return value


class JobFailure(ArtifactModel):
    """Why an attempt failed, as its user is told."""

    code: str
    stage: str | None
    message: str
    suggested_actions: list[str]
    log_tail: str


def progress_of(artifact: "Artifact") -> tuple[StageProgress, float] | None:
    """The progress a stage's progress artifact carries, and the stage's percent; None for other artifacts."""
    if artifact.type != PROGRESS_TYPE or not artifact.description:
        return None
    try:
        progress = StageProgress.model_validate_json(artifact.description)
    except ValidationError:
        return None
    percent = artifact.data if isinstance(artifact.data, (int, float)) else 0.0
    return progress, float(percent)


def failure_of(artifact: "Artifact") -> JobFailure | None:
    """The failure a `job-error` artifact records; None for other artifacts."""
    if artifact.key != FAILURE_KEY or not artifact.description:
        return None
    try:
        return JobFailure.model_validate_json(artifact.description)
    except ValidationError:
        return None
