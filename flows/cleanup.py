"""The `cleanup-sweep` flow: remove old work files and ended jobs' outputs; record what went."""

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

from flows.contract.status import LATEST_TAG, job_id_of, job_tag, status_of
from flows.settings import settings
from flows.storage.sweep import carry_out, job_folders_under, plan_sweep

BATCH = 200


@task(name="job statuses", cache_policy=NO_CACHE)
def read_statuses(job_ids: list[str]) -> dict[str, str]:
    """The status of each job with folders on disk, from its newest attempt: one query per 200 jobs."""
    statuses: dict[str, str] = {}
    with get_client(sync_client=True) as client:
        for start in range(0, len(job_ids), BATCH):
            tags = [job_tag(job_id) for job_id in job_ids[start : start + BATCH]]
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(any_=tags, all_=[LATEST_TAG])),
                limit=BATCH,
            )
            statuses |= {job_id_of(run): status_of(run) for run in runs}
    return statuses


@flow(name="cleanup-sweep")
def cleanup_sweep(
    temp_hours: float = settings.cleanup_temp_hours,
    proxy_hours: float = settings.cleanup_proxy_hours,
    ended_days: float = settings.cleanup_ended_days,
) -> int:
    """Remove old temp/proxy folders and old outputs of failed or cancelled jobs; return bytes freed."""
    root = settings.home
    statuses = read_statuses(sorted(job_folders_under(root)))
    removals = plan_sweep(root, statuses, temp_hours=temp_hours, proxy_hours=proxy_hours, ended_days=ended_days)
    carry_out(removals)
    freed = sum(removal.bytes_freed for removal in removals)
    create_table_artifact(
        key="cleanup-sweep",
        table=[{"folder": str(r.folder), "job": r.job_id, "reason": r.reason, "bytes": r.bytes_freed} for r in removals]
        or [{"folder": "(nothing to remove)", "job": "", "reason": "", "bytes": 0}],
        description=f"Removed {len(removals)} folders, freed {freed} bytes",
    )
    get_run_logger().info("cleanup: removed %d folders, freed %d bytes", len(removals), freed)
    return freed
