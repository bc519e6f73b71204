"""Service benchmark: submit → running, orchestration overhead per job, cancel → stopped.

Starts what it needs on loopback (embedded Prefect unless PREFECT_API_URL, one
worker, one `aura api`), runs short jobs one after another through the REST API,
and prints figures. Asserts nothing. Run by hand: `python bench/service.py`.

    submit → running   POST /api/jobs answered → flow run Running (its start_time), and → brief started;
                       jobs are --gap seconds apart so each meets an idle worker
    overhead           (flow run end − flow run created) − Σ task run times, per job
    cancel             POST cancel → flow run Cancelled, and → no FFmpeg of the job left
"""

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stack import service_stack  # noqa: E402

SHORT = {"brief": {"topic": "Bench"}, "plan": {"targetDurationSeconds": 4}, "render": {"width": 320}}
http = httpx.Client(timeout=60)
LONG = {"brief": {"topic": "Bench cancel"}, "plan": {"targetDurationSeconds": 180}, "render": {"width": 1920}}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def wait(check: Any, timeout: float, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(interval)
    raise TimeoutError("gave up waiting")


def ffmpeg_running(job_id: str) -> bool:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"ffmpeg" in cmdline and job_id.encode() in cmdline:
                return True
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--cancels", type=int, default=5)
    parser.add_argument(
        "--gap",
        type=float,
        default=2.0,
        help="seconds between one job's end and the next submit, so the worker is idle (default 2)",
    )
    args = parser.parse_args()
    with service_stack(worker_limit=1) as api:
        run(api, args)


def run(api: Any, args: argparse.Namespace) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterId,
    )

    to_running, to_brief, overhead = [], [], []
    with get_client(sync_client=True) as client:
        time.sleep(2)
        for _ in range(args.jobs):
            time.sleep(args.gap)
            answered = datetime.now(UTC)
            created = http.post(f"{api.url}/api/jobs", json=SHORT).json()
            flow_run_id = created["links"]["prefect"].rsplit("/", 1)[1]
            run = wait(
                lambda flow_run_id=flow_run_id: (r := client.read_flow_run(flow_run_id)).state.is_final() and r,
                timeout=120,
            )
            to_running.append((run.start_time - answered).total_seconds())
            artifacts = client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]))
            )
            brief = min(a.created for a in artifacts if a.type == "progress")
            to_brief.append((brief - answered).total_seconds())
            tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])))
            work = sum(task.total_run_time.total_seconds() for task in tasks)
            overhead.append((run.end_time - run.created).total_seconds() - work)

        cancel_state, cancel_ffmpeg = [], []
        for _ in range(args.cancels):
            job_id = http.post(f"{api.url}/api/jobs", json=LONG).json()["jobId"]
            wait(lambda job_id=job_id: ffmpeg_running(job_id), timeout=120)
            time.sleep(1)
            started = time.monotonic()
            http.post(f"{api.url}/api/jobs/{job_id}/cancel")
            wait(lambda job_id=job_id: not ffmpeg_running(job_id), timeout=60, interval=0.01)
            cancel_ffmpeg.append(time.monotonic() - started)
            wait(
                lambda job_id=job_id: http.get(f"{api.url}/api/jobs/{job_id}").json()["status"] == "cancelled",
                timeout=60,
            )
            cancel_state.append(time.monotonic() - started)

    def line(name: str, values: list[float]) -> str:
        return (
            f"{name:<34} p50 {statistics.median(values):5.2f} s   p95 {percentile(values, 0.95):5.2f} s"
            f"   max {max(values):5.2f} s   (n={len(values)})"
        )

    print(f"{args.jobs} short jobs one after another, {args.gap:g} s apart; worker limit 1")
    print(line("submit answered → flow run Running", to_running))
    print(line("submit answered → brief started", to_brief))
    print(line("orchestration overhead per job", overhead))
    print(line("cancel → FFmpeg gone", cancel_ffmpeg))
    print(line("cancel → job cancelled (API)", cancel_state))
    print("submit → Running, in submission order: " + " ".join(f"{value:.2f}" for value in to_running))


if __name__ == "__main__":
    main()
