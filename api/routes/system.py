"""Health, storage statistics and the cleanup sweep."""

import shutil

import httpx
from fastapi import APIRouter

from api import jobs
from api.auth import Admin
from api.deps import Prefect
from api.models import CleanupStarted, HealthPublic, StoragePublic
from flows.job_status import queue_name
from flows.settings import settings
from flows.sweep import folder_bytes

router = APIRouter(tags=["system"])
FOLDERS = ("jobs", "temp", "proxy", "results")
CLEANUP_DEPLOYMENT = "cleanup-sweep/cleanup-sweep"


@router.get("/health", response_model=HealthPublic)
async def health(client: Prefect) -> HealthPublic:
    """Liveness of this API process, and whether Prefect answers."""
    try:
        prefect_ok = (await client.api_healthcheck()) is None
    except httpx.HTTPError:
        prefect_ok = False
    return HealthPublic(status="ok" if prefect_ok else "degraded", prefect=prefect_ok,
                        prefect_api_url=str(client.api_url))


@router.get("/api/storage", response_model=StoragePublic, tags=["storage"])
async def read_storage(_: Admin) -> StoragePublic:
    """Bytes used under the storage root, per folder (admins only)."""
    root = settings.home
    sizes = {name: folder_bytes(root / name) if (root / name).is_dir() else 0 for name in FOLDERS}
    jobs_dir = root / "jobs"
    count = sum(1 for path in jobs_dir.iterdir() if path.is_dir()) if jobs_dir.is_dir() else 0
    root.mkdir(parents=True, exist_ok=True)
    return StoragePublic(root=str(root), total_bytes=sum(sizes.values()), folders=sizes, jobs=count,
                         disk_free_bytes=shutil.disk_usage(root).free)


@router.post("/api/cleanup", status_code=202, response_model=CleanupStarted, tags=["storage"])
async def start_cleanup(client: Prefect, _: Admin) -> CleanupStarted:
    """Run the cleanup sweep now, as a flow run of its deployment (admins only)."""
    deployment = await client.read_deployment_by_name(CLEANUP_DEPLOYMENT)
    flow_run = await client.create_flow_run_from_deployment(deployment.id, work_queue_name=queue_name(1))
    return CleanupStarted(flow_run_id=str(flow_run.id),
                          prefect_url=f"{jobs.prefect_ui(client)}/runs/flow-run/{flow_run.id}")
