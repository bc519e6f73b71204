"""What a Prefect server must hold before it runs jobs, and what of it is missing.

`aura worker` and `aura serve` provision it (`api.supervisor.provisioning`); `aura api` never
does, and says through `/health` and its 503 problems what it is waiting for.
"""

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName, WorkPoolFilter, WorkPoolFilterName

from api.settings import settings
from flows.contract.deployments import DEPLOYMENTS, deployment_name

WORKER_LOST_AUTOMATION = "aura: fail jobs whose worker is lost"
STUCK_PENDING_AUTOMATION = "aura: queue again runs a stopped worker left pending"
WEBHOOK_END_AUTOMATION = "aura: deliver webhooks when a job ends"
WEBHOOK_RESTART_AUTOMATION = "aura: start again webhook deliveries that died"
AUTOMATIONS = (WORKER_LOST_AUTOMATION, STUCK_PENDING_AUTOMATION, WEBHOOK_END_AUTOMATION, WEBHOOK_RESTART_AUTOMATION)
HOW_TO_PROVISION = "`aura worker` and `aura serve` provision Prefect when they start"


async def missing_parts(client: PrefectClient) -> list[str]:
    """The parts jobs need that Prefect does not hold, named as an operator finds them in its UI."""
    names = [deployment_name(full_name) for full_name in DEPLOYMENTS]
    deployed = await client.read_deployments(deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=names)))
    pools = [settings.work_pool, settings.webhook_pool]
    found_pools = await client.read_work_pools(work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=pools)))
    automations = {automation.name for automation in await client.read_automations()}
    return [
        *(f"work pool {pool!r}" for pool in pools if pool not in {found.name for found in found_pools}),
        *(
            f"deployment {full_name!r}"
            for full_name in DEPLOYMENTS
            if deployment_name(full_name) not in {deployment.name for deployment in deployed}
        ),
        *(f"automation {name!r}" for name in AUTOMATIONS if name not in automations),
    ]
