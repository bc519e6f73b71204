"""The cleanup sweep on folders aged with os.utime, against real jobs in Prefect."""

from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from flows.cleanup import cleanup_sweep
from flows.settings import settings
from tests.utils.factories import aged, new_job_id, wait_for
from tests.utils.service import http, queue_id, submit, wait_status


@pytest.mark.slow
def test_sweep_removes_old_work_and_ended_outputs_but_never_an_active_jobs(service: Any) -> None:
    home = settings.home
    with get_client(sync_client=True) as client:
        client.update_work_queue(queue_id(client, "priority-10"), is_paused=True)
    try:
        queued = submit(service, "Queued during sweep", priority=10)
        cancelled = submit(service, "Cancelled long ago", priority=10)
        http.post(f"{service.url}/api/jobs/{cancelled}/cancel")
        wait_status(service, cancelled, "cancelled")
        stranger = new_job_id()
        keep = [aged(home / "temp" / queued, 72), aged(home / "proxy" / queued, 72), aged(home / "temp" / stranger, 23)]
        remove = [
            aged(home / "jobs" / cancelled, 24 * 8, 5000),
            aged(home / "results" / cancelled, 24 * 8),
            aged(home / "temp" / cancelled, 30),
            aged(home / "proxy" / stranger, 49),
        ]

        freed = cleanup_sweep()
    finally:
        with get_client(sync_client=True) as client:
            client.update_work_queue(queue_id(client, "priority-10"), is_paused=False)
        http.post(f"{service.url}/api/jobs/{queued}/cancel")
    assert all(folder.exists() for folder in keep)
    assert not any(folder.exists() for folder in remove)
    assert freed >= 8000
    with get_client(sync_client=True) as client:
        record = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["cleanup-sweep"])))
    assert any(str(home / "jobs" / cancelled) in json_row for json_row in [str(a.data) for a in record])


@pytest.mark.slow
def test_storage_reports_usage_and_cleanup_can_be_started_now(service: Any) -> None:
    aged(settings.home / "temp" / new_job_id(), 1, 4096)
    storage = http.get(f"{service.url}/api/storage").json()
    assert storage["folders"]["temp"] >= 4096 and storage["totalBytes"] >= storage["folders"]["temp"]
    assert storage["diskFreeBytes"] > 0
    started = http.post(f"{service.url}/api/cleanup")
    assert started.status_code == 202
    with get_client(sync_client=True) as client:
        run = wait_for(
            lambda: found if (found := client.read_flow_run(started.json()["flowRunId"])).state.is_final() else None,
            timeout=60,
            what="the sweep",
        )
    assert run.state.is_completed()
