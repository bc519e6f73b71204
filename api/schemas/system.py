"""Bodies of the service's own routes: health, storage, the cleanup sweep."""

from typing import Literal

from pydantic import Field

from api.schemas.base import ApiModel


class StoragePublic(ApiModel):
    root: str
    total_bytes: int
    folders: dict[str, int] = Field(description="Bytes used by jobs, temp, proxy and results.")
    jobs: int = Field(description="Job output folders on disk.")
    disk_free_bytes: int


class CleanupStarted(ApiModel):
    flow_run_id: str
    prefect_url: str | None


class HealthPublic(ApiModel):
    status: Literal["ok", "degraded"] = Field(description="`degraded` while Prefect is away or not provisioned.")
    prefect: bool = Field(description="Whether Prefect answers.")
    prefect_api_url: str
    missing: list[str] = Field(
        default_factory=list,
        description="What jobs need that Prefect does not hold yet (work pools, deployments, automations); "
        "`aura worker` and `aura serve` provision them when they start.",
    )
