"""`aura` as a user runs it: a real process, a real terminal signal."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

from api.jobs.progress import find_flow_run
from flows.contract.layout import job_folders
from tests.utils.factories import new_job_id, wait_for
from tests.utils.service import ffmpeg_of

AURA = str(Path(sys.executable).with_name("aura"))
# A slow preset and a larger frame keep FFmpeg busy long enough to interrupt it.
SLOW_RENDER = ["generate", "Slow bees", "--duration", "40", "--width", "1280"]


def aura(*args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [AURA, *args], env={**os.environ, **env}, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def flow_run_state(job_id: str) -> str:
    with get_client(sync_client=True) as client:
        flow_run = find_flow_run(client, job_id)
        return flow_run.state.name if flow_run and flow_run.state else ""


@pytest.mark.slow
def test_generate_prints_where_the_video_is(aura_home: Path) -> None:
    job_id = new_job_id()
    process = aura("generate", "--sample", "--duration", "8", "--width", "320", "--job-id", job_id)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    video = job_folders(job_id).outputs / "video.mp4"
    assert f"video:     {video}" in out
    assert video.stat().st_size > 10_000

    def job_lines() -> list[str] | None:
        with get_client(sync_client=True) as client:
            flow_run = find_flow_run(client, job_id)
            assert flow_run is not None
            logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run.id])))
        lines = [log.message for log in logs if log.message.startswith("job=")]
        return lines if any("finalize" in line for line in lines) else None

    lines = wait_for(job_lines, timeout=15, what="the run's log lines in Prefect")
    correlation = lines[0].split()[1]
    assert re.fullmatch(r"correlation=[0-9a-f]{32}", correlation), lines[0]
    assert all(line.startswith(f"job={job_id} {correlation} | ") for line in lines), lines


@pytest.mark.slow
def test_ctrl_c_during_render_cancels_the_run_and_leaves_no_ffmpeg_or_temp_files() -> None:
    job_id = new_job_id()
    process = aura(*SLOW_RENDER, "--job-id", job_id, AURA_RENDER_PRESET="veryslow")
    wait_for(lambda: ffmpeg_of(job_id), timeout=90, what="FFmpeg to start rendering")
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert "Cancelled" in out
    assert ffmpeg_of(job_id) == []
    try:
        wait_for(lambda: flow_run_state(job_id) == "Cancelled", timeout=10, what="flow run Cancelled")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; it is {flow_run_state(job_id)!r}; aura printed: {out}{err}") from exc
    assert not job_folders(job_id).temp.exists()
    assert not (job_folders(job_id).outputs / "video.mp4").exists()


@pytest.mark.slow
def test_killing_the_flow_run_process_takes_ffmpeg_with_it() -> None:
    job_id = new_job_id()
    process = aura(*SLOW_RENDER, "--job-id", job_id, AURA_RENDER_PRESET="veryslow")
    wait_for(lambda: ffmpeg_of(job_id), timeout=90, what="FFmpeg to start rendering")
    process.kill()
    process.communicate(timeout=10)
    wait_for(lambda: ffmpeg_of(job_id) == [], timeout=5, what="FFmpeg to die with its parent")
