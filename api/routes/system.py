"""Health, storage statistics and the cleanup sweep."""

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from api.dependencies import Admin, Service
from api.schemas.problem import problem_responses
from api.schemas.system import CleanupStarted, HealthPublic, StoragePublic
from api.service import storage_usage

router = APIRouter(tags=["system"])
ADMIN_ONLY = problem_responses(401, 403)


@router.get("/health", response_model=HealthPublic)
async def health(service: Service) -> HealthPublic:
    """Liveness of this API process, and whether Prefect answers."""
    return await service.health()


@router.get("/api/storage", response_model=StoragePublic, tags=["storage"], responses=ADMIN_ONLY)
async def read_storage(_: Admin) -> StoragePublic:
    """Bytes used under the storage root, per folder (admins only)."""
    return storage_usage()


@router.post(
    "/api/cleanup",
    status_code=202,
    response_model=CleanupStarted,
    tags=["storage"],
    responses=problem_responses(401, 403, 413, 503),
)
async def start_cleanup(service: Service, _: Admin) -> CleanupStarted:
    """Run the cleanup sweep now, as a flow run of its deployment (admins only)."""
    return await service.start_cleanup()


@router.get(
    "/metrics",
    response_class=Response,
    tags=["system"],
    responses={200: {"description": "Prometheus text format.", "content": {"text/plain": {}}}, **ADMIN_ONLY},
)
async def metrics(service: Service, _: Admin) -> Response:
    """This API process's metrics for Prometheus (admins only; docs/monitoring.md says what each means)."""
    return Response(service.metrics.render(), media_type=CONTENT_TYPE_LATEST)
