"""`/api/queue`: the seeds' queue view."""

from fastapi import APIRouter

from api import jobs
from api.auth import Who
from api.deps import Events, Prefect
from api.models import QueuePublic

router = APIRouter(prefix="/api/queue", tags=["queue"])
QUEUE_VIEW_LIMIT = 200


@router.get("", response_model=QueuePublic)
async def read_queue(client: Prefect, poller: Events, who: Who) -> QueuePublic:
    """The caller's queued and running jobs in the order they are served (priority, then age), and the stats."""
    page, _ = await jobs.list_jobs(client, poller.eta, who, statuses=["queued", "running", "cancelling"],
                                   limit=QUEUE_VIEW_LIMIT, offset=0)
    page.sort(key=lambda job: (job.status == "queued", job.priority, job.created_at))
    return QueuePublic(jobs=page, stats=await jobs.queue_stats(client, who))
