"""`/api/queue`: the seeds' queue view."""

from fastapi import APIRouter

from api.auth import Who
from api.deps import Events, Index, Prefect
from api.models import QueuePublic
from api.routes.jobs import job_body

router = APIRouter(prefix="/api/queue", tags=["queue"])
QUEUE_VIEW_LIMIT = 200


@router.get("", response_model=QueuePublic)
async def read_queue(client: Prefect, poller: Events, index: Index, who: Who) -> QueuePublic:
    """The caller's queued and running jobs in the order they are served (priority, then age), and the stats."""
    runs, _ = await index.page(who, statuses=["queued", "running", "cancelling"], limit=QUEUE_VIEW_LIMIT, offset=0)
    page = [job_body(job, client, poller) for job in runs]
    page.sort(key=lambda job: (job.status == "queued", job.priority, job.created_at))
    return QueuePublic(jobs=page, stats=await index.stats(who))
