"""Owners' turns: how long a small owner waits behind a big one, and how true `queuePosition` is.

Starts a worker (limit 1) and an API with two owners' keys. Owner A submits a batch of N short
jobs; once A's first runs, owner B submits M. Prints the order the jobs started in, B's waits
(submit → running) beside the wait B would have had at the back of the line (A's jobs ahead of
it, by their run times), and the mean error of each job's `queuePosition`, read when B's jobs
were submitted, against the order the queued jobs then started in.

    python bench/fair_share.py [--a 8] [--b 2]
"""

import argparse
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stack import service_stack  # noqa: E402

SHORT = {"plan": {"targetDurationSeconds": 6}, "render": {"width": 320}}
A_KEY, B_KEY = "bench-owner-a-0123456789", "bench-owner-b-0123456789"


def seconds(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--a", type=int, default=8, help="owner A's jobs, submitted first")
    parser.add_argument("--b", type=int, default=2, help="owner B's jobs, submitted once A's first runs")
    args = parser.parse_args()
    keys = {"a": {"Authorization": f"Bearer {A_KEY}"}, "b": {"Authorization": f"Bearer {B_KEY}"}}
    with (
        service_stack(worker_limit=1, AURA_API_KEYS=f"{A_KEY}:a,{B_KEY}:b", AURA_MAX_QUEUED_PER_OWNER="1000") as api,
        httpx.Client(timeout=60) as http,
    ):

        def job(job_id: str, owner: str) -> dict:
            return http.get(f"{api.url}/api/jobs/{job_id}", headers=keys[owner]).json()

        batch = {"jobs": [{"brief": {"topic": f"A {n}"}, **SHORT} for n in range(args.a)]}
        a_ids = http.post(f"{api.url}/api/jobs/batch", json=batch, headers=keys["a"]).json()["jobIds"]
        while job(a_ids[0], "a")["status"] != "running":
            time.sleep(0.2)
        submitted = time.time()
        b_ids = [
            http.post(f"{api.url}/api/jobs", json={"brief": {"topic": f"B {n}"}, **SHORT}, headers=keys["b"]).json()[
                "jobId"
            ]
            for n in range(args.b)
        ]
        owners = {**{job_id: "a" for job_id in a_ids}, **{job_id: "b" for job_id in b_ids}}
        places = {job_id: job(job_id, owner)["queuePosition"] for job_id, owner in owners.items()}
        while not all(job(job_id, owner)["status"] == "completed" for job_id, owner in owners.items()):
            time.sleep(0.5)
        bodies = {job_id: job(job_id, owner) for job_id, owner in owners.items()}
    started = sorted(owners, key=lambda job_id: seconds(bodies[job_id]["startedAt"]))
    print(f"start order: {' '.join(owners[job_id].upper() for job_id in started)}")
    b_waits = [seconds(bodies[job_id]["startedAt"]) - submitted for job_id in b_ids]
    run_times = [seconds(bodies[job_id]["endedAt"]) - seconds(bodies[job_id]["startedAt"]) for job_id in a_ids]
    at_the_back = sum(run_times[1:]) + seconds(bodies[a_ids[0]]["endedAt"]) - submitted
    print(
        f"B's jobs, submit → running: {', '.join(f'{wait:.1f} s' for wait in b_waits)}; "
        f"at the back of the line B's first would have waited about {at_the_back:.1f} s"
    )
    queued = [job_id for job_id in started if places[job_id] is not None]
    errors = [abs(places[job_id] - order) for order, job_id in enumerate(queued, start=1)]
    print(f"queuePosition against the start order: mean error {statistics.mean(errors):.2f} places, {len(queued)} jobs")


if __name__ == "__main__":
    main()
