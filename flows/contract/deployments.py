"""How the service finds the flows in Prefect: deployment names, work queues, run links.

The deployments themselves are declared in `flows/prefect.yaml`, which travels
with the package; its entrypoints are paths relative to the folder that holds
the `flows` package (the checkout, or `site-packages` after `pip install .`).
"""

from pathlib import Path
from uuid import UUID

VIDEO_FLOW = "generate-video"
VIDEO_DEPLOYMENT = f"{VIDEO_FLOW}/generate-video"
CLEANUP_DEPLOYMENT = "cleanup-sweep/cleanup-sweep"
WEBHOOK_DEPLOYMENT = "deliver-webhooks/deliver-webhooks"
WEBHOOK_SWEEP_DEPLOYMENT = "sweep-webhooks/sweep-webhooks"
DEPLOYMENTS = (VIDEO_DEPLOYMENT, CLEANUP_DEPLOYMENT, WEBHOOK_DEPLOYMENT, WEBHOOK_SWEEP_DEPLOYMENT)
PREFECT_FILE = Path(__file__).resolve().parents[1] / "prefect.yaml"
ENTRYPOINT_ROOT = PREFECT_FILE.parents[1]
PRIORITIES = range(1, 11)


def deployment_name(full_name: str) -> str:
    """`flow/deployment` → `deployment`, as Prefect's deployment filters want it."""
    return full_name.split("/", 1)[1]


def queue_name(priority: int) -> str:
    """Work queue of a priority; queue `priority-1` is served first (`aura serve` creates them)."""
    return f"priority-{priority}"


def run_url(ui_url: str, flow_run_id: UUID | str) -> str:
    """The flow run's page in the Prefect UI."""
    return f"{ui_url.rstrip('/')}/runs/flow-run/{flow_run_id}"
