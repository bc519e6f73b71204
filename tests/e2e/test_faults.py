"""Faults on one machine: the disk under the storage root fills up or turns read-only mid-job."""

import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from flows.contract.layout import job_folders
from tests.utils.service import http, pool_paused, submit, wait_status

pytestmark = pytest.mark.slow
# About 40 s of video at 640 px: several MB, far more than the small disk below holds.
MEDIUM = {"plan": {"targetDurationSeconds": 40}, "render": {"width": 640}}


@contextmanager
def small_disk(folder: Path, *options: str) -> Iterator[None]:
    """A 256 KiB tmpfs mounted on `folder` (root only, as a real full or read-only disk would be)."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", ",".join(["size=256k", *options]), "tmpfs", str(folder)],
        check=True,
        capture_output=True,
    )
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True, capture_output=True)


@pytest.mark.parametrize("options", [[], ["ro"]], ids=["full", "read-only"])
def test_a_full_or_read_only_disk_fails_the_render_clearly_publishes_nothing_and_resumes(
    service: Any, options: list[str]
) -> None:
    with ExitStack() as disk:
        with pool_paused():
            job_id = submit(service, "Bees on a small disk", shape=MEDIUM)
            folders = job_folders(job_id)
            # Both places a render writes: its scratch, where FFmpeg encodes, and the stage's results.
            for folder in (folders.temp / "render", folders.results / "render"):
                disk.enter_context(small_disk(folder, *options))
        failed = wait_status(service, job_id, "failed", "completed", timeout=120)
        assert failed["status"] == "failed"
        error = failed["error"]
        assert error["code"] == "E307-STORAGE" and error["stage"] == "render", error
        assert ("read-only" if options else "space") in error["message"].lower(), error
        assert error["suggestedActions"] and failed["canResume"] and failed["lastCompletedStage"] == "visuals"
        assert not folders.outputs.exists() or not any(folders.outputs.iterdir())
        assert http.get(f"{service.url}/api/jobs/{job_id}/artifacts/video.mp4").status_code == 404

    if options:
        return  # The resume does not depend on how the disk failed: one case proves it.
    assert http.post(f"{service.url}/api/jobs/{job_id}/retry").status_code == 202
    done = wait_status(service, job_id, "completed", "failed", timeout=120)
    assert done["status"] == "completed" and done["attempt"] == 2
    assert {artifact["name"] for artifact in done["artifacts"]} >= {"video.mp4", "video.srt", "thumbnail.jpg"}
