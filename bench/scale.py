"""Scale-out figures on this machine: Prefect on PostgreSQL, N workers, two API processes.

    python bench/scale.py throughput [--jobs 20] [--workers 1 2] [--prefect-replicas 1]
    python bench/scale.py load [--jobs 200] [--workers 2] [--no-copy] [--prefect-replicas 1]
    python bench/scale.py idle [--workers 2]

`--prefect-replicas`: 1 (the default) runs one Prefect server process with its services inside;
2 or more, that many replicas behind HAProxy with the services apart and Redis between them
(docs/scale-out.md, tests/utils/prefect_ha.py).

`throughput`: short jobs (10 s videos, 320 px) submitted at once, for each worker count; jobs per
minute from the first submission to the last completion, and Prefect's load per completed job:
the transactions its PostgreSQL database committed (every API call of workers, flow runs, API
processes and this script ends in some) and the requests of the API processes' poll loops; and
the requests a second of each API process's copy of the jobs (`api/job_index.py`); and the rows
Prefect wrote per job, by table (PostgreSQL's own counts), which says where the transactions go.
`idle`: no jobs at all, two 20 s windows: the transactions a second Prefect's database commits and
the rows a second it writes, by table. It is the fixed cost that `throughput` shares out per job;
`AURA_WORKER_QUERY_SECONDS=2` (or any value) in front shows what the workers' polling costs.
`load`: that many jobs queued at once with mixed priorities and workers at their limits; the
p50/p95 of `GET /api/jobs/{id}` and `GET /api/jobs?limit=50` (a pair every 0.5 s) while the queue
drains, whether every job completed exactly once, and how far the start order strays from
priority order. `--no-copy` is the baseline: the API processes' copy of the jobs is never
refreshed after start, so every read queries Prefect.
"""

import argparse
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.utils.cluster import cluster  # noqa: E402

SHORT = {"plan": {"targetDurationSeconds": 10}, "render": {"width": 320}}
RAN_ON = re.compile(r"attempt (\d+) on worker (\S+),")


def submit_all(apis: list, count: int, priorities: list[int]) -> list[str]:
    ids = []
    with httpx.Client(timeout=60) as client:
        for number in range(count):
            body = {"brief": {"topic": f"Bench {number}"}, "priority": priorities[number], **SHORT}
            answer = client.post(f"{apis[number % len(apis)].url}/api/jobs", json=body)
            answer.raise_for_status()
            ids.append(answer.json()["jobId"])
    return ids


def wait_all(api: object, ids: list[str], timeout: float) -> dict[str, dict]:
    done: dict[str, dict] = {}
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=60) as client:
        while len(done) < len(ids) and time.monotonic() < deadline:
            page = client.get(
                f"{api.url}/api/jobs", params={"limit": 200, "status": ["completed", "failed", "cancelled"]}
            )
            for job in page.json()["jobs"]:
                if job["jobId"] in ids:
                    done[job["jobId"]] = job
            time.sleep(1)
    return done


def prefect_requests(apis: list) -> tuple[int, int]:
    """Requests to Prefect of the API processes' poll loops, and of their copies of the jobs."""
    stats = [httpx.get(f"{api.url}/api/events/stats", timeout=10).json() for api in apis]
    return sum(found["prefectRequests"] for found in stats), sum(found["copyRequests"] for found in stats)


def throughput(jobs: int, worker_counts: list[int], replicas: int) -> None:
    for workers in worker_counts:
        with (
            tempfile.TemporaryDirectory() as folder,
            cluster(Path(folder), workers=workers, worker_limit=2, apis=2, prefect_replicas=replicas) as nodes,
        ):
            (polls, copies), commits = prefect_requests(nodes.apis), nodes.database_commits()
            writes = nodes.database_writes()
            started = time.monotonic()
            ids = submit_all(nodes.apis, jobs, [5] * jobs)
            done = wait_all(nodes.apis[0], ids, timeout=jobs * 30)
            took = time.monotonic() - started
            completed = sum(job["status"] == "completed" for job in done.values())
            polls_now, copies_now = prefect_requests(nodes.apis)
            commits = nodes.database_commits() - commits
            time.sleep(1)  # PostgreSQL publishes its per-table counts at most every second
            writes = nodes.database_writes() - writes
            print(
                f"{workers} worker(s) x limit 2: {completed}/{jobs} completed in {took:.1f} s, "
                f"{60 * completed / took:.1f} jobs/min; per job: {commits / max(completed, 1):.0f} Prefect "
                f"database transactions, {(polls_now - polls) / max(completed, 1):.1f} requests of the API poll "
                f"loops; each API process's copy of the jobs: "
                f"{(copies_now - copies) / len(nodes.apis) / took:.1f} requests a second"
            )
            per_job = ", ".join(f"{table} {rows / max(completed, 1):.1f}" for table, rows in writes.most_common(12))
            print(f"  rows written per job, by table: {per_job}")


def idle(workers: int) -> None:
    with (
        tempfile.TemporaryDirectory() as folder,
        cluster(Path(folder), workers=workers, worker_limit=2, apis=2) as nodes,
    ):
        time.sleep(5)  # past the start's own writes
        for window in (1, 2):
            commits, writes, began = nodes.database_commits(), nodes.database_writes(), time.monotonic()
            time.sleep(20)
            commits, took = nodes.database_commits() - commits, time.monotonic() - began
            time.sleep(1)  # PostgreSQL publishes its per-table counts at most every second
            per_table = ", ".join(
                f"{table} {rows / took:.1f}" for table, rows in (nodes.database_writes() - writes).most_common(6)
            )
            print(f"idle, window {window}: {commits / took:.1f} transactions a second; rows a second: {per_table}")


def load(jobs: int, workers: int, copy: bool, replicas: int) -> None:
    priorities = [random.Random(number).randint(1, 10) for number in range(jobs)]
    env = {} if copy else {"AURA_JOB_INDEX_SECONDS": "86400"}  # fresh for 3 s after start, then never again
    with (
        tempfile.TemporaryDirectory() as folder,
        cluster(Path(folder), workers=workers, worker_limit=2, apis=2, prefect_replicas=replicas, **env) as nodes,
    ):
        one = nodes.apis[0]
        # Queued at once: nothing starts until the last is in, so the start order is the scheduler's alone.
        nodes.pause_pool(True)
        began = time.monotonic()
        ids = submit_all(nodes.apis, jobs, priorities)
        print(
            f"reads from {'the API processes’ copy of the jobs' if copy else 'Prefect (--no-copy)'}; "
            f"{jobs} jobs submitted in {time.monotonic() - began:.1f} s"
        )
        started, copies = time.monotonic(), prefect_requests(nodes.apis)[1]
        nodes.pause_pool(False)
        samples: dict[str, list[float]] = {"job": [], "list": []}
        stop = threading.Event()

        def sample() -> None:
            next_pair = time.monotonic()
            with httpx.Client(timeout=30) as client:
                while not stop.wait(max(0.0, next_pair - time.monotonic())):
                    next_pair = time.monotonic() + 0.5
                    for kind, url in (
                        ("job", f"{one.url}/api/jobs/{random.choice(ids)}"),
                        ("list", f"{one.url}/api/jobs?limit=50"),
                    ):
                        began = time.perf_counter()
                        client.get(url).raise_for_status()
                        samples[kind].append(time.perf_counter() - began)

        reader = threading.Thread(target=sample, daemon=True)
        reader.start()
        done = wait_all(one, ids, timeout=jobs * 20)
        stop.set()
        reader.join()
        took = time.monotonic() - started
        completed = sum(job["status"] == "completed" for job in done.values())
        copies = prefect_requests(nodes.apis)[1] - copies
        print(
            f"drained: {completed}/{jobs} completed in {took:.0f} s ({60 * completed / took:.1f} jobs/min); "
            f"each API process's copy of the jobs made {copies / len(nodes.apis) / took:.1f} Prefect requests a second"
        )
        for kind, values in samples.items():
            values.sort()
            print(
                f"GET {kind:<4} while draining: n={len(values)} p50 {1000 * statistics.median(values):.0f} ms, "
                f"p95 {1000 * values[int(0.95 * (len(values) - 1))]:.0f} ms, max {1000 * values[-1]:.0f} ms"
            )
        runs_per_job = []
        with httpx.Client(timeout=60) as client:
            for job_id in ids:
                lines = client.get(f"{one.url}/api/jobs/{job_id}/logs").json()["logs"]
                runs_per_job.append(sum(1 for line in lines if RAN_ON.search(line["message"])))
        print(f"placements per job: {dict(sorted(Counter(runs_per_job).items()))} (1 = ran exactly once)")
        order = [job["priority"] for job in sorted(done.values(), key=lambda job: job["startedAt"] or "")]
        pairs = len(order) * (len(order) - 1) // 2
        inverted = sum(1 for i, first in enumerate(order) for later in order[i + 1 :] if first > later)
        print(
            f"start order: {inverted} of {pairs} pairs of jobs ({100 * inverted / max(pairs, 1):.1f} %) started "
            "a lower priority before a higher one (all were queued before the first started)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["throughput", "load", "idle"])
    parser.add_argument("--jobs", type=int)
    parser.add_argument("--workers", type=int, nargs="+", default=None)
    parser.add_argument("--no-copy", action="store_true", help="load: reads query Prefect (the baseline)")
    parser.add_argument("--prefect-replicas", type=int, default=1, help="Prefect API replicas (default 1)")
    options = parser.parse_args()
    if options.what == "throughput":
        throughput(options.jobs or 20, options.workers or [1, 2], options.prefect_replicas)
    elif options.what == "idle":
        idle((options.workers or [2])[0])
    else:
        load(
            options.jobs or 200,
            (options.workers or [2])[0],
            copy=not options.no_copy,
            replicas=options.prefect_replicas,
        )
