"""Where a job's files live under the storage root: the layout the flows write and the API reads.

- `jobs/<jobId>/`: the published outputs; a file appears here complete or not at all.
- `temp/<jobId>/`: scratch files of the running attempt; removed when it ends.
- `results/<jobId>/<stage>/`: what each completed stage made, kept after a failure
  or a cancel so that a retry resumes from the last completed stage.
- `proxy/<jobId>/`: proxy media.
"""

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from flows.contract.errors import StorageError
from flows.contract.stages import STAGES
from flows.settings import settings

JOB_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{2,63}$")
# The files a completed job publishes in `jobs/<jobId>/`, with their media types.
OUTPUT_TYPES = {
    "video.mp4": "video/mp4",
    "video.srt": "application/x-subrip",
    "thumbnail.jpg": "image/jpeg",
    "manifest.json": "application/json",
    "ffmpeg.log": "text/plain",
}


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
        return make_folder(folder)

    def scratch(self, name: str) -> Path:
        return make_folder(self.temp / name)

    def remove_work(self) -> None:
        """Remove what only a running attempt needs."""
        shutil.rmtree(self.temp, ignore_errors=True)
        shutil.rmtree(self.proxy, ignore_errors=True)


def reusable_stages(job_id: str) -> list[str]:
    """Stages a new attempt would reuse: those with a persisted result, in order, without gaps.

    `brief` is never persisted (it re-checks providers each attempt) and counts
    as done once `script` is.
    """
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


def folder_bytes(folder: Path) -> int:
    """Bytes of the regular files under `folder`, links not followed."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink())


def make_folder(folder: Path) -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create {folder}: {exc.strerror}") from exc
    return folder
