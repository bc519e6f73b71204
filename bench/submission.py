"""Submission benchmark: 100 jobs one POST at a time, as one batch, and Prefect's own cost for the same.

Starts what it needs on loopback (embedded Prefect unless PREFECT_API_URL, one worker, one
`aura api`), pauses the work pool so nothing runs, and cancels everything it queued. Asserts
nothing. Run by hand: `python bench/submission.py [--jobs 100]`.

    POST /api/jobs × n          n creates through the API, one after another
    POST /api/jobs/batch        the same n jobs in one request
    Prefect create × n          the baseline: n `create_flow_run_from_deployment` calls, no API
    Prefect bulk create         the baseline: Prefect's bulk route with the same n runs, no API, sent once
                                (on SQLite it reports runs it could not make while the database is locked;
                                "made" counts what each way queued)
    replay                      POST /api/jobs again with a key already used: p50 and p95
"""

import argparse
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stack import service_stack  # noqa: E402

http = httpx.Client(timeout=300)


def body(n: int) -> dict[str, Any]:
    return {"brief": {"topic": f"Bench {n}"}, "plan": {"targetDurationSeconds": 4}, "render": {"width": 320}}


def timed(action: Any) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=100, help="jobs per way of submitting (at most 100)")
    args = parser.parse_args()
    with service_stack(worker_limit=1, AURA_MAX_QUEUED_PER_OWNER="1000") as api:
        run(api, args.jobs)


def run(api: Any, n: int) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import DeploymentFlowRunCreate, WorkPoolUpdate

    from flows.contract.deployments import VIDEO_DEPLOYMENT

    with get_client(sync_client=True) as client:
        client.update_work_pool("video", WorkPoolUpdate(is_paused=True))
        began = datetime.now(UTC)
        deployment = client.read_deployment_by_name(VIDEO_DEPLOYMENT).id
        parameters = {"request": body(0), "job_id": "bench", "attempt": 1, "correlation_id": "bench"}
        creates = [
            DeploymentFlowRunCreate(parameters=parameters, tags=["aura-bench"]).model_dump(
                mode="json", exclude_unset=True
            )
            for _ in range(n)
        ]
        ways = {
            "POST /api/jobs × n": lambda: [http.post(f"{api.url}/api/jobs", json=body(i)) for i in range(n)],
            "POST /api/jobs/batch": lambda: http.post(
                f"{api.url}/api/jobs/batch", json={"jobs": [body(i) for i in range(n)]}
            ),
            "Prefect create × n": lambda: [
                client.create_flow_run_from_deployment(deployment, parameters=parameters, tags=["aura-bench"])
                for _ in range(n)
            ],
            "Prefect bulk create": lambda: client._client.post(
                f"/deployments/{deployment}/create_flow_run/bulk", json=creates
            ),
        }
        seconds, made = {}, {}
        try:
            # Each way starts from an empty queue: how long a create takes grows with what is queued.
            for name, way in ways.items():
                seconds[name] = timed(way)
                made[name] = cancel_queued(client, began)
            key = {"Idempotency-Key": f"bench-{uuid.uuid4()}"}
            http.post(f"{api.url}/api/jobs", json=body(0), headers=key)
            replays = [timed(lambda: http.post(f"{api.url}/api/jobs", json=body(0), headers=key)) for _ in range(20)]
        finally:
            cancel_queued(client, began)
            client.update_work_pool("video", WorkPoolUpdate(is_paused=False))

    print(f"{n} jobs each way, each from an empty queue, work pool paused (SQLite Prefect unless PREFECT_API_URL)")
    for name, took in seconds.items():
        baseline = "   (baseline, no API)" if name.startswith("Prefect") else ""
        print(f"{name:<28} {took:6.2f} s   {took / n * 1000:6.1f} ms a job   {made[name]:3d} made{baseline}")
    ordered = sorted(replays)
    print(
        f"{'replay (same key again)':<28} p50 {statistics.median(replays) * 1000:5.1f} ms"
        f"   p95 {ordered[int(0.95 * (len(ordered) - 1))] * 1000:5.1f} ms   (n={len(replays)})"
    )


def cancel_queued(client: Any, since: datetime) -> int:
    """Cancel the runs queued since the bench began, 50 at a time (Prefect's bulk limit); how many there were."""
    queued = {"state": {"type": {"any_": ["SCHEDULED"]}}, "expected_start_time": {"after_": since.isoformat()}}
    cancelled_state = {"type": "CANCELLED", "message": "cancelled by bench/submission.py"}
    cancelled = 0
    while found := client._client.post(
        "/flow_runs/bulk_set_state", json={"flow_runs": queued, "state": cancelled_state, "force": True}
    ).json()["results"]:
        cancelled += len(found)
    return cancelled


if __name__ == "__main__":
    main()
