"""Apply the deployments of `flows/prefect.yaml` through Prefect's API, writing only what differs.

`prefect deploy --all --prefect-file flows/prefect.yaml` does the same from a shell. Here it runs
in-process and compares first, so replicas that start together mostly read: a deployment is
written only when this version of the project declares it differently (or it is missing), and
Prefect's create is an upsert by flow and name, so two replicas writing at once leave one
deployment with one set of schedules (the second upsert waits on the row the first locked).

Each flow is imported from its entrypoint, as Prefect's worker imports it, for its name, its
version (a digest of its source file) and its parameter schema.
"""

import importlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import yaml
from prefect import Flow
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.actions import DeploymentScheduleCreate
from prefect.client.schemas.responses import DeploymentResponse
from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule
from prefect.exceptions import ObjectNotFound
from prefect.utilities.callables import parameter_schema

from flows.contract.deployments import ENTRYPOINT_ROOT, PREFECT_FILE


@dataclass(frozen=True)
class Declared:
    """One deployment of `prefect.yaml`, as `create_deployment` takes it."""

    flow_name: str
    name: str
    fields: dict[str, Any]
    schedules: list[DeploymentScheduleCreate]

    @property
    def full_name(self) -> str:
        return f"{self.flow_name}/{self.name}"


def declared() -> list[Declared]:
    entries = yaml.safe_load(PREFECT_FILE.read_text())["deployments"]
    return [_declared(entry) for entry in entries]


def _declared(entry: dict[str, Any]) -> Declared:
    path, function = entry["entrypoint"].split(":")
    flow: Flow[..., Any] = getattr(importlib.import_module(path.removesuffix(".py").replace("/", ".")), function)
    pool = entry["work_pool"]
    fields = {
        "description": entry.get("description"),
        "version": flow.version,
        "tags": entry.get("tags", []),
        "work_pool_name": pool["name"],
        "work_queue_name": pool.get("work_queue_name") or "default",
        "job_variables": pool.get("job_variables", {}),
        "entrypoint": entry["entrypoint"],
        # The runs' working directory: the folder that holds `flows/`, the checkout or site-packages.
        "pull_steps": [{"prefect.deployments.steps.set_working_directory": {"directory": str(ENTRYPOINT_ROOT)}}],
        "parameter_openapi_schema": parameter_schema(flow).model_dump(exclude_unset=True),
        "enforce_parameter_schema": True,
    }
    return Declared(flow.name, entry["name"], fields, [_schedule(given) for given in entry.get("schedules", [])])


def _schedule(given: dict[str, Any]) -> DeploymentScheduleCreate:
    if "cron" in given:
        return DeploymentScheduleCreate(schedule=CronSchedule(cron=given["cron"]))
    return DeploymentScheduleCreate(schedule=IntervalSchedule(interval=timedelta(seconds=given["interval"])))


def apply(client: SyncPrefectClient) -> list[str]:
    """Make Prefect's deployments those of `prefect.yaml`; the full names of those written."""
    written = []
    for deployment in declared():
        try:
            existing = client.read_deployment_by_name(deployment.full_name)
        except ObjectNotFound:
            existing = None
        if existing is not None and _same(existing, deployment):
            continue
        client.create_deployment(
            flow_id=client.create_flow_from_name(deployment.flow_name),
            name=deployment.name,
            schedules=deployment.schedules,
            **deployment.fields,
        )
        written.append(deployment.full_name)
    return written


def _same(existing: DeploymentResponse, wanted: Declared) -> bool:
    if any(getattr(existing, field) != value for field, value in wanted.fields.items()):
        return False
    return sorted(_what_it_does(schedule.schedule) for schedule in existing.schedules) == sorted(
        _what_it_does(schedule.schedule) for schedule in wanted.schedules
    )


def _what_it_does(schedule: Any) -> str:
    """A schedule without the anchor Prefect stamps on an interval when it is made."""
    return str(schedule.model_dump(exclude={"anchor_date", "timezone"}))
