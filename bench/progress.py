"""What one progress update costs, for the mechanisms a stage could use to publish progress.

Inside a real flow and task run against the running Prefect server, N updates each of:
- `update_artifact` on one progress artifact through a shared sync client (what `flows.runtime.reporting` does);
- Prefect's `update_progress_artifact` helper (a new client per call);
- one run-logger line (queued, sent to the API in batches; its cost here is the caller's only).
Prints the mean and p95 per update. Run by hand: `python bench/progress.py [--updates N]`.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.supervisor.prefect_server import ensure_server  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--updates", type=int, default=200)
    args = parser.parse_args()
    os.environ["PREFECT_API_URL"] = ensure_server().api_url
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")

    from prefect import flow, get_run_logger, task
    from prefect.artifacts import create_progress_artifact, update_progress_artifact
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import ArtifactUpdate

    def timed(update: object) -> list[float]:
        costs = []
        for step in range(args.updates):
            started = time.perf_counter()
            update(step)  # type: ignore[operator]
            costs.append(time.perf_counter() - started)
        return costs

    @task
    def measure() -> dict[str, list[float]]:
        artifact = create_progress_artifact(progress=0.0, description="{}")
        logger = get_run_logger()
        with get_client(sync_client=True) as client:
            shared = timed(
                lambda step: client.update_artifact(
                    artifact_id=artifact, artifact=ArtifactUpdate(data=step / args.updates * 100, description="{}")
                )
            )
        helper = timed(lambda step: update_progress_artifact(artifact, progress=step / args.updates * 100))
        logged = timed(lambda step: logger.info("step %d of %d", step, args.updates))
        return {
            "update_artifact, shared client": shared,
            "update_progress_artifact helper": helper,
            "run-logger line": logged,
        }

    @flow
    def progress_bench() -> dict[str, list[float]]:
        return measure()

    for name, costs in progress_bench().items():
        ordered = sorted(costs)
        print(
            f"{name:<34} mean {statistics.mean(costs) * 1000:6.1f} ms   "
            f"p95 {ordered[int(0.95 * (len(ordered) - 1))] * 1000:6.1f} ms   (n={len(costs)})"
        )


if __name__ == "__main__":
    main()
