"""The batch body of `POST /api/jobs/batch`: JSON `{"jobs": [...]}`, or CSV with one video per row
(`api.schemas.briefs_csv`)."""

from pydantic import ConfigDict, Field

from api.schemas.base import ApiModel
from api.schemas.briefs_csv import batch_from_csv
from api.schemas.jobs import JobCreated
from flows.contract.request import VideoRequest

MAX_BATCH = 100
CSV_TYPE = "text/csv"


class BatchRequest(ApiModel):
    """Up to 100 create bodies; one invalid body and none is queued."""

    model_config = ConfigDict(extra="forbid")

    jobs: list[VideoRequest] = Field(min_length=1, max_length=MAX_BATCH)


class BatchCreated(ApiModel):
    job_ids: list[str] = Field(description="The jobs' ids, in the order of the request.")
    jobs: list[JobCreated] = Field(description="The jobs, in the order of the request.")


def read_batch(body: bytes, content_type: str) -> BatchRequest:
    """The batch a request body holds; pydantic's `ValidationError` naming every field that is wrong."""
    if content_type.split(";", 1)[0].strip().lower() == CSV_TYPE:
        return BatchRequest.model_validate(batch_from_csv(body))
    return BatchRequest.model_validate_json(body)
