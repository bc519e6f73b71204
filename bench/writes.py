"""Writes under a queue: how fast `POST /api/jobs`, `/cancel` and `/retry` answer while jobs render and
many wait, on the embedded default (SQLite Prefect, one worker with a slot per core).

Starts what it needs on loopback (bench/stack.py), queues `--queued` jobs that each render for some
seconds, then, while two render, sends `--rounds` rounds of: a new job, a cancel of a queued job, a
retry of a cancelled one, one after another as a client would. Asserts nothing; prints each
route's p50/p95/p99/max, how many took over 1 s and over 5 s (a client's patience), and the
answers by status (0: none within 60 s). Beside them, the same moments' Prefect calls the routes make, timed directly
(no API): creating a flow run, and the per-owner queue count.

    python bench/writes.py [--queued 100] [--rounds 40]
"""

import argparse
import statistics
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stack import service_stack  # noqa: E402

# Long enough that the queue does not drain while the bench runs: some 5-10 s of work each.
SHAPE = {"plan": {"targetDurationSeconds": 40}, "render": {"width": 960}}
PATIENCE_SECONDS = 5.0
# A client gives up after this long; an answer that never came is counted under status 0.
http = httpx.Client(timeout=60)


def body(topic: str) -> dict[str, Any]:
    return {"brief": {"topic": topic}, **SHAPE}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queued", type=int, default=100, help="jobs waiting in the queue (default 100)")
    parser.add_argument("--rounds", type=int, default=40, help="rounds of create, cancel and retry (default 40)")
    args = parser.parse_args()
    with service_stack(worker_limit=2, AURA_MAX_QUEUED_PER_OWNER="10000") as api:
        run(api, args.queued, args.rounds)


def run(api: Any, queued: int, rounds: int) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType
    from prefect.exceptions import PrefectHTTPStatusError
    from prefect.states import Cancelled

    from api.jobs.runs import latest_filter
    from flows.contract.deployments import VIDEO_DEPLOYMENT
    from flows.contract.status import owner_tag

    began = datetime.now(UTC)
    waiting = http.post(f"{api.url}/api/jobs/batch", json={"jobs": [body(f"Queued {n}") for n in range(queued)]})
    waiting.raise_for_status()
    queue = list(reversed(waiting.json()["jobIds"]))  # the last queued start last: cancel those
    took: dict[str, list[float]] = defaultdict(list)
    statuses: dict[str, Counter[int]] = defaultdict(Counter)

    def timed(route: str, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            answer = http.request(method, api.url + path, **kwargs)
        except httpx.TimeoutException:
            took[route].append(time.perf_counter() - started)
            statuses[route][0] += 1  # no answer within the client's timeout
            return None
        took[route].append(time.perf_counter() - started)
        statuses[route][answer.status_code] += 1
        return answer

    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(VIDEO_DEPLOYMENT).id
        parameters = {"request": body("Baseline"), "job_id": "bench", "attempt": 1, "correlation_id": "bench"}
        owner_filter = latest_filter(["queued"], [owner_tag("local")])
        running = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING])))
        while client.count_flow_runs(flow_run_filter=running) < 2:
            time.sleep(0.5)
        try:
            for n in range(rounds):
                created = timed("POST /api/jobs", "POST", "/api/jobs", json=body(f"Round {n}"))
                if created is not None and created.status_code == 202:
                    queue.insert(0, created.json()["jobId"])
                victim = queue.pop(0)
                timed("POST /cancel", "POST", f"/api/jobs/{victim}/cancel")
                timed("POST /retry", "POST", f"/api/jobs/{victim}/retry")
                started = time.perf_counter()
                try:
                    baseline = client.create_flow_run_from_deployment(
                        deployment, parameters=parameters, tags=["aura-bench"]
                    )
                    client.set_flow_run_state(baseline.id, Cancelled(message="bench baseline"), force=True)
                    statuses["Prefect create (baseline)"][201] += 1
                except PrefectHTTPStatusError as exc:  # SQLite locked: Prefect's 503, after its client's retries
                    statuses["Prefect create (baseline)"][exc.response.status_code] += 1
                took["Prefect create (baseline)"].append(time.perf_counter() - started)
                started = time.perf_counter()
                client.count_flow_runs(flow_run_filter=owner_filter)
                took["Prefect queue count (baseline)"].append(time.perf_counter() - started)
            rendering = client.count_flow_runs(flow_run_filter=running)
        finally:
            cancel_since(client, began)

    print(f"{queued} jobs queued, 2 rendering ({rendering} running at the end), {rounds} rounds; SQLite Prefect")
    print(f"{'':<32} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}  >1 s  >{PATIENCE_SECONDS:g} s  answers")
    for route, seconds in took.items():
        answers = " ".join(f"{status}×{count}" for status, count in sorted(statuses[route].items())) or "-"
        print(
            f"{route:<32} {statistics.median(seconds):7.3f} {percentile(seconds, 0.95):7.3f}"
            f" {percentile(seconds, 0.99):7.3f} {max(seconds):7.3f}"
            f"  {sum(s > 1 for s in seconds):4d}  {sum(s > PATIENCE_SECONDS for s in seconds):4d}  {answers}"
        )


def cancel_since(client: Any, since: datetime) -> None:
    """Cancel every run the bench queued or started, 50 at a time (Prefect's bulk limit)."""
    live = {
        "state": {"type": {"any_": ["SCHEDULED", "PENDING", "RUNNING"]}},
        "expected_start_time": {"after_": since.isoformat()},
    }
    state = {"type": "CANCELLED", "message": "cancelled by bench/writes.py"}
    while client._client.post(
        "/flow_runs/bulk_set_state", json={"flow_runs": live, "state": state, "force": True}
    ).json()["results"]:
        pass


if __name__ == "__main__":
    main()
