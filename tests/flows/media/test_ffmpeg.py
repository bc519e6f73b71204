"""FFmpeg process handling against the real binary: progress, cancel, watchdog, failures."""

import os
import threading
import time
from pathlib import Path

import pytest

from flows.contract.errors import FfmpegFailed, JobCancelled, RenderStalled
from flows.media.ffmpeg import run_ffmpeg
from tests.utils.factories import processes_mentioning

# Real encodes: `make test-fast` runs no FFmpeg.
pytestmark = pytest.mark.slow

# fmt: off
LONG_ENCODE = ["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-t", "600",
               "-c:v", "libx264", "-preset", "veryslow"]
SHORT_ENCODE = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-t", "3",
                "-c:v", "libx264", "-preset", "ultrafast"]
# fmt: on


def test_progress_is_reported_in_encoded_seconds(tmp_path: Path) -> None:
    seen: list[float] = []
    run_ffmpeg(
        [*SHORT_ENCODE, str(tmp_path / "out.mp4")],
        log=tmp_path / "ffmpeg.log",
        stall_seconds=30,
        cancelled=lambda: False,
        on_progress=seen.append,
    )
    assert seen == sorted(seen)
    assert seen[-1] == pytest.approx(3.0, abs=0.1)
    assert "libx264" in (tmp_path / "ffmpeg.log").read_text()


def test_cancel_kills_ffmpeg_at_once(tmp_path: Path) -> None:
    out = tmp_path / "cancelled.mp4"
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(JobCancelled, match="render: cancelled"):
        run_ffmpeg([*LONG_ENCODE, str(out)], log=tmp_path / "ffmpeg.log", stall_seconds=30, cancelled=cancel.is_set)
    assert time.monotonic() - started < 3
    assert processes_mentioning(str(out)) == []


def test_watchdog_stops_ffmpeg_that_makes_no_progress(tmp_path: Path) -> None:
    fifo = tmp_path / "never-written"
    os.mkfifo(fifo)
    with pytest.raises(RenderStalled) as raised:
        run_ffmpeg(
            ["-f", "s16le", "-i", str(fifo), str(tmp_path / "stalled.wav")],
            log=tmp_path / "ffmpeg.log",
            stall_seconds=1.5,
            cancelled=lambda: False,
        )
    assert raised.value.code == "E305-JOB_STALLED"
    assert "no progress for 1.5 s" in raised.value.message
    assert "never-written" in raised.value.log_tail
    assert processes_mentioning(str(fifo)) == []


def test_failure_carries_the_code_and_the_log_tail(tmp_path: Path) -> None:
    with pytest.raises(FfmpegFailed) as raised:
        run_ffmpeg(
            ["-i", str(tmp_path / "missing.png"), str(tmp_path / "x.mp4")],
            log=tmp_path / "ffmpeg.log",
            stall_seconds=30,
            cancelled=lambda: False,
        )
    assert raised.value.code == "E304-FFMPEG_RUNTIME"
    assert "No such file or directory" in raised.value.log_tail


def test_interrupt_in_the_waiting_thread_still_kills_ffmpeg(tmp_path: Path) -> None:
    out = tmp_path / "interrupted.mp4"

    def interrupted() -> bool:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_ffmpeg([*LONG_ENCODE, str(out)], log=tmp_path / "ffmpeg.log", stall_seconds=30, cancelled=interrupted)
    assert processes_mentioning(str(out)) == []
