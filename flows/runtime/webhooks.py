"""A job whose webhook wants step and status events starts the run that delivers them, as it starts.

Prefect's automations took up to 8 s to react to a run going Running here (SQLite, two cores), longer
than many jobs take. Asking for the delivery run from the flow itself takes one request. If that
fails, nothing is lost: the automation on the job's end starts a run that sends every event then.
"""

import httpx
from prefect import get_client, get_run_logger
from prefect.exceptions import PrefectException

from flows.contract.deployments import WEBHOOK_DEPLOYMENT
from flows.contract.request import VideoRequest


def follow_with_webhook(request: VideoRequest, job_id: str) -> None:
    if request.webhook is None or not request.webhook.live:
        return
    try:
        with get_client(sync_client=True) as client:
            deployment = client.read_deployment_by_name(WEBHOOK_DEPLOYMENT)
            client.create_flow_run_from_deployment(deployment.id, parameters={"job_id": job_id, "restarts": 0})
    # Prefect's client raises its own errors for a missing deployment, httpx's for a server that fails.
    except (PrefectException, httpx.HTTPError) as exc:
        get_run_logger().warning("webhook: could not start its delivery run now, it will run at the end: %s", exc)
