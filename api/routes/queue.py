"""`/api/queue`: the seeds' queue view."""

from fastapi import APIRouter

from api.dependencies import Service, Who
from api.schemas.jobs import QueuePublic
from api.schemas.problem import problem_responses

router = APIRouter(prefix="/api/queue", tags=["queue"])


@router.get("", response_model=QueuePublic, responses=problem_responses(401, 503))
async def read_queue(service: Service, who: Who) -> QueuePublic:
    """The caller's queued and running jobs in the order they are served (priority, then age), and the stats."""
    return await service.queue(who)
