"""The cleanup sweep's rules on folders aged with os.utime (no Prefect needed)."""

from pathlib import Path

from flows.storage.sweep import plan_sweep
from tests.utils.factories import aged, new_job_id


def test_plan_keeps_active_jobs_and_recent_folders(tmp_path: Path) -> None:
    active, ended, done, unknown = (new_job_id() for _ in range(4))
    aged(tmp_path / "temp" / active, 100)
    aged(tmp_path / "jobs" / ended, 24 * 8)
    aged(tmp_path / "results" / ended, 24 * 8)
    aged(tmp_path / "jobs" / done, 24 * 30)
    aged(tmp_path / "temp" / unknown, 25)
    aged(tmp_path / "proxy" / unknown, 47)
    statuses = {active: "running", ended: "failed", done: "completed"}
    plan = plan_sweep(tmp_path, statuses, temp_hours=24, proxy_hours=48, ended_days=7)
    assert sorted((removal.folder.parent.name, removal.job_id) for removal in plan) == sorted(
        [("jobs", ended), ("results", ended), ("temp", unknown)]
    )
    assert all(removal.bytes_freed == 1000 for removal in plan)
