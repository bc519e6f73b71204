"""The seeds' render routes: the same handlers as `/api/jobs/{id}/progress` and `/cancel`."""

from fastapi import APIRouter

from api.routes.jobs import CHANGE_JOB, ONE_JOB, cancel_job, read_progress
from api.schemas.jobs import JobStatusPublic, ProgressPublic
from api.schemas.problem import problem_responses

router = APIRouter(prefix="/api/render", tags=["render"])
router.add_api_route(
    "/{job_id}/progress",
    read_progress,
    methods=["GET"],
    response_model=ProgressPublic,
    responses=problem_responses(*ONE_JOB),
    summary="Read render progress",
)
router.add_api_route(
    "/{job_id}/cancel",
    cancel_job,
    methods=["POST"],
    status_code=202,
    response_model=JobStatusPublic,
    responses=problem_responses(*CHANGE_JOB),
    summary="Cancel render",
)
