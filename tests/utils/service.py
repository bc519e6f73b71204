"""Talking to the service under test over HTTP, as a client would."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolUpdate

from tests.utils.factories import processes_mentioning, wait_for
from tests.utils.patience import PATIENCE

# Generous: these tests prove behaviour, `bench/` measures speed. With two test sessions on two cores,
# a POST /api/jobs whose Prefect (SQLite) answered "busy" and was retried by the API took over 30 s once,
# and a batch of 100 on a slow CI machine over 90 s.
http = httpx.Client(timeout=90 * PATIENCE)

SHORT = {"plan": {"targetDurationSeconds": 6}, "render": {"width": 320}}
# Long enough to interrupt: about 20 s of FFmpeg at 1080p.
LONG = {"plan": {"targetDurationSeconds": 180}, "render": {"width": 1920}}


def body(topic: str = "Bees", priority: int = 5, shape: dict | None = None) -> dict[str, Any]:
    return {"brief": {"topic": topic}, "priority": priority, **(shape or SHORT)}


def submit(api: Any, topic: str = "Bees", priority: int = 5, shape: dict | None = None, **headers: str) -> str:
    answer = http.post(f"{api.url}/api/jobs", json=body(topic, priority, shape), headers=headers)
    assert answer.status_code == 202, answer.text
    return answer.json()["jobId"]


def job(api: Any, job_id: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    answer = http.get(f"{api.url}/api/jobs/{job_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def wait_status(
    api: Any, job_id: str, *statuses: str, timeout: float = 90, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    return wait_for(
        lambda: (found := job(api, job_id, headers))["status"] in statuses and found,
        timeout=timeout,
        interval=0.3,
        what=f"job {job_id} to be {'/'.join(statuses)}",
    )


def ffmpeg_of(job_id: str) -> list[int]:
    """PIDs of FFmpeg processes working for a job."""
    return [pid for pid in processes_mentioning(job_id) if b"ffmpeg" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def queue_id(client: Any, name: str) -> Any:
    return next(queue.id for queue in client.read_work_queues(work_pool_name="video") if queue.name == name)


@contextmanager
def pool_paused() -> Iterator[None]:
    """No worker takes a job from the `video` pool inside the block; jobs queued meanwhile start after it."""
    with get_client(sync_client=True) as client:
        client.update_work_pool("video", WorkPoolUpdate(is_paused=True))
        try:
            yield
        finally:
            client.update_work_pool("video", WorkPoolUpdate(is_paused=False))
