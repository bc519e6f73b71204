"""Where a job's files live under the storage root, and how outputs are published.

- `jobs/<jobId>/`: the published outputs; a file appears here complete or not at all.
- `temp/<jobId>/`: scratch files of the running attempt; removed when it ends.
- `results/<jobId>/<stage>/`: what each completed stage made, kept after a failure
  or a cancel so that a retry resumes from the last completed stage.
- `proxy/<jobId>/`: proxy media.
"""

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from flows.errors import StorageError
from flows.settings import settings

JOB_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{2,63}$")


@dataclass(frozen=True)
class JobFolders:
    job_id: str
    root: Path

    @property
    def outputs(self) -> Path:
        return self.root / "jobs" / self.job_id

    @property
    def temp(self) -> Path:
        return self.root / "temp" / self.job_id

    @property
    def results(self) -> Path:
        return self.root / "results" / self.job_id

    @property
    def proxy(self) -> Path:
        return self.root / "proxy" / self.job_id

    def stage(self, name: str) -> Path:
        """A fresh folder for a stage's results; what a failed earlier try left is removed."""
        folder = self.results / name
        shutil.rmtree(folder, ignore_errors=True)
        return _make(folder)

    def scratch(self, name: str) -> Path:
        return _make(self.temp / name)

    def remove_work(self) -> None:
        """Remove what only a running attempt needs."""
        shutil.rmtree(self.temp, ignore_errors=True)
        shutil.rmtree(self.proxy, ignore_errors=True)


def reusable_stages(job_id: str) -> list[str]:
    """Stages a new attempt would reuse: those with a persisted result, in order, without gaps.

    `brief` is never persisted (it re-checks providers each attempt) and counts
    as done once `script` is.
    """
    from flows.pipeline import STAGES

    cache = job_folders(job_id).results / ".cache"
    done: list[str] = []
    for stage in STAGES[1:]:
        if not any(cache.glob(f"{stage}-*")):
            break
        done.append(stage)
    return ["brief", *done] if done else []


def job_folders(job_id: str) -> JobFolders:
    if not JOB_ID_PATTERN.match(job_id):
        raise ValueError(f"job id {job_id!r} is not 3-64 lowercase letters, digits and dashes")
    return JobFolders(job_id=job_id, root=settings.home)


def _make(folder: Path) -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create {folder}: {exc.strerror}") from exc
    return folder


def publish(files: dict[str, Path], folder: Path) -> dict[str, int]:
    """Copy each file into `folder` under its name: to a hidden temp name, then renamed.

    Returns the sizes of what was published. Sources are copied, not moved, so
    a publish that fails half-way can be run again from the same sources.
    """
    _make(folder)
    sizes: dict[str, int] = {}
    try:
        for name, source in files.items():
            partial = folder / f".{name}.partial"
            shutil.copyfile(source, partial)
            with partial.open("rb") as handle:
                os.fsync(handle.fileno())
            os.replace(partial, folder / name)
            sizes[name] = (folder / name).stat().st_size
    except OSError as exc:
        for leftover in folder.glob(".*.partial"):
            leftover.unlink(missing_ok=True)
        raise StorageError(f"cannot publish into {folder}: {exc.strerror or exc}") from exc
    return sizes
