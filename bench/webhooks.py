"""Webhook deliveries: how long after a job ends its event reaches the receiver, and what it costs Prefect.

Starts a worker (limit 1, with its webhook worker) and an API, and a receiver on 127.0.0.1.
After a warm-up job, N short jobs with the default webhook (the three terminal events) run one
after another; for
each, the time from the job's end (`endedAt`, Prefect's end time) to the delivery's arrival,
p50/p95. With `--live`, the jobs (of some 10 s) also want `step-status` and `job-status`, and
each step-status event's latency is measured from its own timestamp. Then, per job: the delivery runs
Prefect ran, and the Prefect requests those runs made (each run logs its count).

    python bench/webhooks.py [--jobs 10] [--live]
"""

import argparse
import os
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stack import service_stack  # noqa: E402

from tests.utils.receiver import receiver  # noqa: E402

SHORT = {"plan": {"targetDurationSeconds": 6}, "render": {"width": 320}}
# A follower run starts a few seconds after its job does: live events are measured on jobs of some 10 s.
LONGER = {"plan": {"targetDurationSeconds": 40}, "render": {"width": 960}}
LIVE = ["job-status", "step-status", "job-completed", "job-failed", "job-cancelled"]
REQUESTS = "this delivery run made "


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def seconds(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def delivery_costs(job_ids: list[str]) -> tuple[list[int], list[int]]:
    """Per job: how many delivery runs Prefect ran, and the requests they made."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        LogFilter,
        LogFilterFlowRunId,
    )

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["deliver-webhooks"])), limit=200
        )
        # Each run's last line, once the runs have sent their logs.
        time.sleep(3)
        of_runs = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id for run in runs]))
        logs: list = []
        while True:
            page = client.read_logs(log_filter=of_runs, limit=200, offset=len(logs))
            logs += page
            if len(page) < 200:
                break
    made = {log.flow_run_id: int(log.message.split(REQUESTS)[1].split()[0]) for log in logs if REQUESTS in log.message}
    runs_of = {job: [run for run in runs if run.parameters.get("job_id") == job] for job in job_ids}
    return [len(runs_of[job]) for job in job_ids], [sum(made.get(run.id, 0) for run in runs_of[job]) for job in job_ids]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--live", action="store_true", help="webhooks that also want step and status events")
    args = parser.parse_args()
    os.environ["AURA_WEBHOOK_ALLOW_PRIVATE"] = "true"
    clock = time.time() - time.monotonic()
    ended, steps, job_ids = [], [], []
    with service_stack(worker_limit=1) as api, receiver() as hooks, httpx.Client(timeout=60) as http:
        http.post(f"{api.url}/api/webhooks/secret").raise_for_status()
        webhook = {"url": hooks.url} | ({"events": LIVE} if args.live else {})
        # The first job after start-up waits on a Prefect still busy starting: a warm-up, not measured.
        for number in range(-1, args.jobs):
            body = {"brief": {"topic": f"Bench {number}"}, **(LONGER if args.live else SHORT), "webhook": webhook}
            job_id = http.post(f"{api.url}/api/jobs", json=body).json()["jobId"]
            # A delivery whose automation did not fire comes with the next sweep, up to two minutes later.
            deadline = time.monotonic() + 240
            while not [d for d in hooks.delivered("job-completed") if d.payload["jobId"] == job_id]:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no job-completed delivery for {job_id}")
                time.sleep(0.05)
            if number < 0:
                continue
            [done] = [d for d in hooks.delivered("job-completed") if d.payload["jobId"] == job_id]
            ended_at = seconds(http.get(f"{api.url}/api/jobs/{job_id}").json()["endedAt"])
            ended.append(done.arrived + clock - ended_at)
            job_ids.append(job_id)
            steps += [
                d.arrived + clock - seconds(d.payload["timestamp"])
                for d in hooks.delivered("step-status")
                if d.payload["jobId"] == job_id
            ]
        runs, requests = delivery_costs(job_ids)
    wanted = ", ".join(LIVE if args.live else ["the terminal ones"])
    print(f"jobs: {args.jobs} {'10 s' if args.live else 'short'} jobs one after another; webhook events: {wanted}")
    print(f"job end → job-completed delivered: p50 {percentile(ended, 0.5):.2f} s, p95 {percentile(ended, 0.95):.2f} s")
    if steps:
        print(f"step-status event → delivered: p50 {percentile(steps, 0.5):.2f} s, p95 {percentile(steps, 0.95):.2f} s")
    print(
        f"per job: {statistics.mean(runs):.1f} delivery runs, {statistics.mean(requests):.0f} Prefect requests "
        "made by them (the worker adds its own few per run)"
    )


if __name__ == "__main__":
    main()
