"""Which folders under the storage root the cleanup sweep removes; no Prefect in here.

- `temp/<jobId>` older than `temp_hours`, `proxy/<jobId>` older than `proxy_hours`;
- `jobs/<jobId>` and `results/<jobId>` of failed or cancelled jobs older than `ended_days`;
- never anything of a job that is queued or running, whatever its age.

Age is the time since the folder was last modified.
"""

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from flows.contract.layout import JOB_ID_PATTERN, folder_bytes

ENDED = {"failed", "cancelled"}


@dataclass(frozen=True)
class Removal:
    folder: Path
    job_id: str
    reason: str
    bytes_freed: int


def job_folders_under(root: Path) -> dict[str, list[Path]]:
    """Every `<kind>/<jobId>` folder under the root, by job id."""
    found: dict[str, list[Path]] = {}
    for kind in ("temp", "proxy", "jobs", "results"):
        base = root / kind
        if base.is_dir():
            for folder in base.iterdir():
                if folder.is_dir() and not folder.is_symlink() and JOB_ID_PATTERN.match(folder.name):
                    found.setdefault(folder.name, []).append(folder)
    return found


def plan_sweep(
    root: Path,
    statuses: dict[str, str],
    *,
    temp_hours: float,
    proxy_hours: float,
    ended_days: float,
    now: float | None = None,
) -> list[Removal]:
    """What to remove. `statuses` maps job ids to their job status; a job Prefect does not know is `unknown`."""
    now = time.time() if now is None else now
    limits = {
        "temp": temp_hours * 3600,
        "proxy": proxy_hours * 3600,
        "jobs": ended_days * 86400,
        "results": ended_days * 86400,
    }
    removals = []
    for job_id, folders in job_folders_under(root).items():
        status = statuses.get(job_id, "unknown")
        if status in ("queued", "running", "cancelling"):
            continue
        for folder in folders:
            kind = folder.parent.name
            age = now - folder.stat().st_mtime
            if age < limits[kind]:
                continue
            if kind in ("jobs", "results") and status not in ENDED:
                continue
            removals.append(
                Removal(
                    folder=folder,
                    job_id=job_id,
                    bytes_freed=folder_bytes(folder),
                    reason=f"{kind} of a {status} job, {age / 3600:.1f} h old",
                )
            )
    return removals


def carry_out(removals: list[Removal]) -> None:
    for removal in removals:
        shutil.rmtree(removal.folder, ignore_errors=True)
