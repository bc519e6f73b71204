"""The seeds' render routes: the same handlers as `/api/jobs/{id}/progress` and `/cancel`."""

from fastapi import APIRouter

from api.models import JobStatusPublic, ProgressPublic
from api.routes.jobs import NOT_FOUND, cancel_job, read_progress

router = APIRouter(prefix="/api/render", tags=["render"])
router.add_api_route("/{job_id}/progress", read_progress, methods=["GET"], response_model=ProgressPublic,
                     responses=NOT_FOUND, summary="Read render progress")
router.add_api_route("/{job_id}/cancel", cancel_job, methods=["POST"], status_code=202,
                     response_model=JobStatusPublic, responses=NOT_FOUND, summary="Cancel render")
