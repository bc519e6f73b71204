"""The REST facade against the real stack: Prefect server, a worker limited to one job, `aura api`."""

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterTags,
    LogFilter,
    LogFilterFlowRunId,
)

from flows.contract.layout import job_folders
from flows.contract.status import job_tag
from tests.utils.factories import wait_for
from tests.utils.service import LONG, ffmpeg_of, http, job, pool_paused, queue_id, submit, wait_status

pytestmark = pytest.mark.slow


def test_a_job_completes_and_its_video_downloads_with_range(service: Any) -> None:
    job_id = submit(service, "Honeybees", **{"X-Correlation-ID": "test-corr-42"})
    done = wait_status(service, job_id, "completed", "failed")
    assert done["status"] == "completed", done["error"]
    assert done["percent"] == 100 and done["attempt"] == 1 and done["correlationId"] == "test-corr-42"
    assert done["createdAt"] <= done["startedAt"] <= done["completedAt"] == done["endedAt"]
    assert done["prefectUrl"].endswith(done["flowRunId"])
    names = {artifact["name"]: artifact for artifact in done["artifacts"]}
    assert {"video.mp4", "video.srt", "thumbnail.jpg", "manifest.json"} <= set(names)

    video = names["video.mp4"]
    whole = http.get(f"{service.url}{video['url']}")
    assert whole.status_code == 200 and len(whole.content) == video["sizeBytes"]
    assert whole.headers["content-type"] == "video/mp4" and whole.headers["accept-ranges"] == "bytes"
    part = http.get(f"{service.url}{video['url']}", headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206
    assert part.content == whole.content[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{video['sizeBytes']}"

    with get_client(sync_client=True) as client:

        def tagged_lines() -> list:
            logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[done["flowRunId"]])))
            return [log for log in logs if "correlation=test-corr-42" in log.message and f"job={job_id}" in log.message]

        wait_for(tagged_lines, timeout=10, what="log lines carrying the job and correlation ids")
    progress = http.get(f"{service.url}/api/jobs/{job_id}/progress").json()
    assert progress["completedSteps"] == ["brief", "script", "voice", "visuals", "render", "finalize"]
    assert http.get(f"{service.url}/api/render/{job_id}/progress").json() == progress


def test_jobs_list_filters_pages_and_counts(service: Any) -> None:
    first, second = submit(service, "List one"), submit(service, "List two")
    for job_id in (first, second):
        wait_status(service, job_id, "completed")
    listed = http.get(f"{service.url}/api/jobs", params={"status": "completed", "limit": 1}).json()
    assert len(listed["jobs"]) == 1 and listed["total"] >= 2
    assert all(entry["status"] == "completed" for entry in listed["jobs"])
    page_two = http.get(f"{service.url}/api/jobs", params={"status": "completed", "limit": 1, "offset": 1}).json()
    assert page_two["jobs"][0]["jobId"] != listed["jobs"][0]["jobId"]
    stats = listed["stats"]
    assert stats["completed"] >= 2
    assert stats["total"] == sum(stats[key] for key in ("queued", "running", "completed", "failed", "cancelled"))
    queue = http.get(f"{service.url}/api/queue").json()
    assert queue["stats"] == stats and all(entry["status"] in ("queued", "running") for entry in queue["jobs"])


def test_jobs_queued_while_no_worker_takes_any_start_by_priority(service: Any) -> None:
    # Both ends of the range and a tie (which keeps its submit order).
    priorities = [5, 10, 1, 5]
    with pool_paused():
        submitted = [
            (priority, index, submit(service, f"Priority {priority}", priority))
            for index, priority in enumerate(priorities)
        ]
        line = http.get(f"{service.url}/api/queue").json()["jobs"]
        waiting = [entry for entry in line if entry["status"] == "queued"]
        assert [entry["priority"] for entry in waiting] == sorted(priorities)
        assert [entry["queuePosition"] for entry in waiting] == list(range(1, len(priorities) + 1))
        etas = [entry["etaSeconds"] for entry in waiting]
        assert etas == sorted(etas) and etas[0] > 0, "each waits for the ones before it"
        placed = [entry["jobId"] for entry in waiting]
    finished = {job_id: wait_status(service, job_id, "completed", timeout=240) for _, _, job_id in submitted}
    started_order = sorted(finished, key=lambda job_id: finished[job_id]["startedAt"])
    assert started_order == [job_id for _, _, job_id in sorted(submitted)] == placed


def test_cancel_a_queued_job_at_once_and_a_running_one_with_its_ffmpeg(service: Any) -> None:
    running = submit(service, "Long", shape=LONG)
    queued = submit(service, "Waiting")
    answer = http.post(f"{service.url}/api/jobs/{queued}/cancel")
    assert answer.status_code == 202 and answer.json() == {"jobId": queued, "status": "cancelled"}
    assert job(service, queued)["status"] == "cancelled"

    wait_for(lambda: ffmpeg_of(running), timeout=90, what="FFmpeg rendering the long job")
    folders = job_folders(running)
    # FFmpeg encodes in scratch; the stage's results get the video only once it is complete.
    wait_for((folders.temp / "render" / "video.mp4").exists, timeout=30, what="FFmpeg writing in scratch")
    assert not (folders.results / "render" / "video.mp4").exists()
    started = time.monotonic()
    answer = http.post(f"{service.url}/api/render/{running}/cancel")
    assert answer.status_code == 202 and answer.json()["status"] == "cancelling"
    ended = wait_status(service, running, "cancelled", timeout=30)
    assert ffmpeg_of(running) == []
    assert time.monotonic() - started < 3
    assert ended["cancelledAt"] and ended["canResume"] is True and ended["lastCompletedStage"] == "visuals"
    assert not folders.temp.exists() and not folders.proxy.exists()
    # No partial video among the results a retry resumes from; the encoder's log stays for diagnosis.
    assert {path.name for path in (folders.results / "render").iterdir()} == {"ffmpeg.log"}

    again = http.post(f"{service.url}/api/jobs/{running}/cancel")
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["code"] == "E409-JOB_ENDED"


def test_a_failed_job_is_retried_as_a_resume_with_earlier_stages_reused(service: Any) -> None:
    with pool_paused():
        job_id = submit(service, "Fails at render")
        folders = job_folders(job_id)
        folders.results.mkdir(parents=True)
        (folders.results / "render").write_text("a file where the render folder should be")

    failed = wait_status(service, job_id, "failed", "completed", timeout=120)
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "E307-STORAGE" and failed["error"]["stage"] == "render"
    assert failed["error"]["suggestedActions"]
    assert failed["lastCompletedStage"] == "visuals" and failed["canResume"] is True

    (folders.results / "render").unlink()
    answer = http.post(f"{service.url}/api/jobs/{job_id}/retry")
    assert answer.status_code == 202, answer.text
    assert answer.json()["attempt"] == 2 and answer.json()["jobId"] == job_id
    done = wait_status(service, job_id, "completed", "failed", timeout=120)
    assert done["status"] == "completed" and done["attempt"] == 2
    with get_client(sync_client=True) as client:

        def states() -> dict[str, str]:
            runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[done["flowRunId"]])))
            found = {run.name: run.state.name for run in runs if run.state and run.state.is_final()}
            return found if len(found) == 6 else {}

        reused = wait_for(states, timeout=20, what="the second attempt's task runs")
    assert [reused[stage] for stage in ("script", "voice", "visuals")] == ["Cached"] * 3
    assert reused["render"] == "Completed"
    # Log lines reach Prefect in batches (every 2 s, and at the end of the flow-run process).
    wait_for(
        lambda: (
            {line["attempt"] for line in http.get(f"{service.url}/api/jobs/{job_id}/logs").json()["logs"]} == {1, 2}
        ),
        timeout=15,
        what="log lines of both attempts",
    )
    listed = http.get(f"{service.url}/api/jobs", params={"limit": 200}).json()["jobs"]
    assert next(entry for entry in listed if entry["jobId"] == job_id) == job(service, job_id)


def retry(service: Any, job_id: str) -> httpx.Response:
    return http.post(f"{service.url}/api/jobs/{job_id}/retry")


def retried_twice_at_once(service: Any, job_id: str) -> httpx.Response:
    """Two retries sent together (a client sending again after a slow answer) start one attempt."""
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: retry(service, job_id), range(2)))
    accepted = [answer for answer in answers if answer.status_code == 202]
    refused = [answer.json()["code"] for answer in answers if answer.status_code != 202]
    assert accepted and set(refused) <= {"E409-NOT_RETRYABLE"}, [answer.text for answer in answers]
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[job_tag(job_id)])))
    assert sorted(run.parameters["attempt"] for run in runs) == [1, 2]
    return accepted[0]


def test_manual_retries_follow_the_backoff_policy_and_stop_at_three(service: Any) -> None:
    # The waits themselves (10 s, 20 s … from the end of the last attempt) are proven with a clock in
    # tests/api/jobs/test_commands.py; here the service answers them, with AURA_MANUAL_RETRY_BASE_SECONDS=1.
    with get_client(sync_client=True) as client:
        client.update_work_queue(queue_id(client, "priority-10"), is_paused=True)
    try:
        job_id = submit(service, "Retry policy", priority=10)
        http.post(f"{service.url}/api/jobs/{job_id}/cancel")
        for retry_number, wait in ((1, 0), (2, 2), (3, 4)):
            answer = retried_twice_at_once(service, job_id) if retry_number == 1 else retry(service, job_id)
            if wait:
                assert answer.status_code == 409 and answer.json()["code"] == "E409-RETRY_BACKOFF"
                assert 1 <= int(answer.headers["Retry-After"]) <= wait
                answer = wait_for(
                    lambda: accepted if (accepted := retry(service, job_id)).status_code != 409 else None,
                    timeout=wait + 5,
                    what=f"retry {retry_number} once its backoff is over",
                )
            assert answer.status_code == 202, answer.text
            assert answer.json()["attempt"] == retry_number + 1
            http.post(f"{service.url}/api/jobs/{job_id}/cancel")
        limit = http.post(f"{service.url}/api/jobs/{job_id}/retry")
        assert limit.status_code == 409 and limit.json()["code"] == "E409-RETRY_LIMIT"
    finally:
        with get_client(sync_client=True) as client:
            client.update_work_queue(queue_id(client, "priority-10"), is_paused=False)


def test_a_killed_flow_run_process_fails_the_job_as_worker_lost_and_it_resumes(service: Any) -> None:
    job_id = submit(service, "Killed", shape=LONG)
    ffmpeg = wait_for(lambda: ffmpeg_of(job_id), timeout=90, what="FFmpeg rendering")
    flow_process = int(Path(f"/proc/{ffmpeg[0]}/stat").read_text().rsplit(")", 1)[1].split()[1])
    killed_at = time.monotonic()
    os.kill(flow_process, signal.SIGKILL)
    failed = wait_status(service, job_id, "failed", timeout=60)
    assert time.monotonic() - killed_at < 60
    assert failed["error"]["code"] == "E309-WORKER_LOST"
    assert failed["canResume"] is True and failed["lastCompletedStage"] == "visuals"
    wait_for(lambda: ffmpeg_of(job_id) == [], timeout=5, what="FFmpeg to die with its flow run")

    assert http.post(f"{service.url}/api/jobs/{job_id}/retry").status_code == 202
    wait_for(lambda: ffmpeg_of(job_id), timeout=90, what="the resumed render")
    assert http.post(f"{service.url}/api/jobs/{job_id}/cancel").status_code == 202
    assert wait_status(service, job_id, "cancelled", timeout=30)["attempt"] == 2
