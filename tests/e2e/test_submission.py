"""Idempotent and batch submission on the real stack: Prefect decides a key's race between two API processes.

The work pool is paused while these tests queue jobs, and every job they queue is cancelled before it
resumes: they check what is queued, not videos.
"""

import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
from prefect.client.schemas.sorting import FlowRunSort
from prometheus_client.parser import text_string_to_metric_families

from flows.contract.status import job_id_of, job_tag
from tests.conftest import SESSION_DIR
from tests.utils.service import body, http, pool_paused
from tests.utils.stack import AURA, ApiProcess


@pytest.fixture(scope="module")
def second_api(service: Any) -> Iterator[ApiProcess]:
    """Another API process on the same Prefect, with room for a batch of 100 whatever else is queued."""
    with ApiProcess(SESSION_DIR / "api-second.log", AURA_MAX_QUEUED_PER_OWNER="1000") as api:
        yield api


def scrape(api: Any) -> dict[str, float]:
    """`GET /metrics` of an API process: each sample's value by name (the `queued` one for `aura_jobs`)."""
    text = http.get(f"{api.url}/metrics").text
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.labels.get("status", "queued") == "queued"
    }


def runs_of(job_ids: list[str]) -> list[Any]:
    """The flow runs Prefect holds for these jobs, in the order they were created."""
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(any_=[job_tag(job_id) for job_id in job_ids])),
            sort=FlowRunSort.EXPECTED_START_TIME_ASC,
        )


def cancel_all(job_ids: list[str]) -> None:
    """Cancel the queued jobs in a few requests to Prefect (its bulk route, 50 runs a time)."""
    queued = {"tags": {"any_": [job_tag(job_id) for job_id in job_ids]}, "state": {"type": {"any_": ["SCHEDULED"]}}}
    cancelled = {"type": "CANCELLED", "message": "cancelled by the test that queued it"}
    with get_client(sync_client=True) as client:
        done = 0
        while done < len(job_ids):
            answer = client._client.post(
                "/flow_runs/bulk_set_state", json={"flow_runs": queued, "state": cancelled, "force": True}
            )
            assert answer.json()["results"], f"only {done} of {len(job_ids)} jobs were queued"
            done += len(answer.json()["results"])


def test_one_key_sent_to_two_api_processes_at_once_makes_one_flow_run(service: Any, second_api: ApiProcess) -> None:
    key = {"Idempotency-Key": f"race-{os.getpid()}"}

    def send(api: Any) -> httpx.Response:
        answer = http.post(f"{api.url}/api/jobs", json=body("Race"), headers=key)
        # Eight writes at once may keep SQLite busy past the write deadline; the answer says to send again.
        while answer.status_code == 503 and answer.json()["code"] == "E503-PREFECT_BUSY":
            answer = http.post(f"{api.url}/api/jobs", json=body("Race"), headers=key)
        return answer

    with pool_paused():
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(send, [service, second_api] * 4))
        statuses = sorted(answer.status_code for answer in answers)
        # The one that made the job answers 202, or 200 when its first answer was late and it sent again.
        assert statuses in ([200] * 7 + [202], [200] * 8), [a.text for a in answers]
        [job_id] = {answer.json()["jobId"] for answer in answers}
        assert len(runs_of([job_id])) == 1
        other = http.post(f"{second_api.url}/api/jobs", json=body("Not the race"), headers=key)
        assert other.status_code == 422 and other.json()["code"] == "E422-IDEMPOTENCY_KEY_REUSED"
        cancel_all([job_id])


def test_a_batch_of_100_is_queued_in_order_and_one_bad_body_queues_none(second_api: ApiProcess) -> None:
    jobs = [body(f"Batch {n}", priority=1 + n % 3) for n in range(100)]
    with pool_paused():
        bad = [*jobs[:57], {**jobs[57], "brief": {"topic": "Square", "aspect": "4:3"}}, *jobs[58:]]
        refused = http.post(f"{second_api.url}/api/jobs/batch", json={"jobs": bad})
        assert refused.status_code == 422
        assert [error["field"] for error in refused.json()["errors"]] == ["jobs.57.brief.aspect"]
        submitted_before = scrape(second_api)["aura_jobs_submitted_total"]
        with get_client(sync_client=True) as client:
            runs_before = client.count_flow_runs()

            answer = http.post(f"{second_api.url}/api/jobs/batch", json={"jobs": jobs})
            assert answer.status_code == 202, answer.text
            job_ids = answer.json()["jobIds"]
            assert client.count_flow_runs() == runs_before + 100, "the refused batch queued nothing"
        try:
            runs = runs_of(job_ids)
            assert [job_id_of(run) for run in runs] == job_ids
            assert [run.parameters["request"]["brief"]["topic"] for run in runs] == [f"Batch {n}" for n in range(100)]
            assert [run.work_queue_name for run in runs[:3]] == ["priority-1", "priority-2", "priority-3"]
            metrics = scrape(second_api)
            assert metrics["aura_jobs_submitted_total"] == submitted_before + 100
            assert metrics["aura_jobs"] >= 100, "the queued jobs, as the process's copy holds them"
        finally:
            cancel_all(job_ids)


def generate_from(csv: Path, api: ApiProcess) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AURA, "generate", "--from", str(csv), "--api", api.url],
        env=os.environ.copy(),
        text=True,
        capture_output=True,
        timeout=120,
    )


def test_aura_generate_from_a_csv_queues_a_job_per_row_and_prints_a_line_each(
    second_api: ApiProcess, tmp_path: Path
) -> None:
    briefs = tmp_path / "briefs.csv"
    briefs.write_text('topic,duration,aspect,priority\nWhy bees matter,6,16:9,2\n"Tides, and the moon",8,9:16,\n')
    with pool_paused():
        made = generate_from(briefs, second_api)
        assert made.returncode == 0, made.stderr
        lines = made.stdout.splitlines()
        job_ids = [line.split()[0] for line in lines[:2]]
        try:
            assert lines[0].endswith("queued  Why bees matter") and lines[1].endswith("queued  Tides, and the moon")
            assert "2 jobs queued" in lines[2]
            requests = [run.parameters["request"] for run in runs_of(job_ids)]
            assert [(r["brief"]["aspect"], r["priority"]) for r in requests] == [("16:9", 2), ("9:16", 5)]
        finally:
            cancel_all(job_ids)

    bad = tmp_path / "bad.csv"
    bad.write_text("topic,colour\nBees,red\n")
    refused = generate_from(bad, second_api)
    assert refused.returncode == 2 and "csv.colour: unknown column" in refused.stderr
