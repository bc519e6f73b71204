"""Running FFmpeg so that it never outlives its job.

Prefect's runner kills only the flow-run process; a child FFmpeg was seen
re-parented to PID 1 and encoding on. So each FFmpeg here:

- runs in a session (process group) of its own, killed as a group;
- gets SIGKILL from the kernel when the thread that started it dies
  (`PR_SET_PDEATHSIG`), which covers `kill -9` of the flow-run process;
- is killed when the job is cancelled (checked every 0.1 s), when it makes no
  progress for `stall_seconds` (the watchdog), and in a `finally` on any other
  way out, `KeyboardInterrupt` and Prefect's `TerminationSignal` included.

Progress comes from `-progress pipe:1` (`out_time_us=` lines); everything
FFmpeg prints goes to the job's `ffmpeg.log`.
"""

import ctypes
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path

from flows.contract.errors import (
    FfmpegFailed,
    FfmpegNotFound,
    JobCancelled,
    RenderStalled,
    StorageError,
    storage_trouble,
)

LOG_TAIL_BYTES = 16 * 1024
POLL_SECONDS = 0.1
PR_SET_PDEATHSIG = 1


@cache
def ffmpeg_exe() -> str:
    """The FFmpeg binary shipped in the imageio-ffmpeg wheel."""
    import imageio_ffmpeg

    try:
        exe: str = imageio_ffmpeg.get_ffmpeg_exe()
        return exe
    except RuntimeError as exc:
        raise FfmpegNotFound(f"FFmpeg was not found: {exc}") from exc


@cache
def ffmpeg_version() -> str:
    import imageio_ffmpeg

    version: str = imageio_ffmpeg.get_ffmpeg_version()
    return version


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def log_tail(log: Path, size: int = LOG_TAIL_BYTES) -> str:
    """The last `size` bytes of a log, as text."""
    try:
        with log.open("rb") as handle:
            handle.seek(max(0, log.stat().st_size - size))
            return handle.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


class _ProgressReader(threading.Thread):
    """Reads `-progress` output; remembers the encoded time and when it last moved."""

    def __init__(self, stream: "subprocess.IO[bytes]") -> None:  # type: ignore[name-defined]
        super().__init__(daemon=True)
        self.stream = stream
        self.seconds = 0.0
        self.moved_at = time.monotonic()

    def run(self) -> None:
        for raw in self.stream:
            key, _, value = raw.decode(errors="replace").strip().partition("=")
            if key == "out_time_us" and value.isdigit():
                seconds = int(value) / 1_000_000
                if seconds > self.seconds:
                    self.seconds = seconds
                    self.moved_at = time.monotonic()


def run_ffmpeg(
    args: list[str],
    *,
    log: Path,
    stall_seconds: float,
    cancelled: Callable[[], bool],
    on_progress: Callable[[float], None] = lambda seconds: None,
) -> None:
    """Run FFmpeg with `args` to the end, or kill it and raise the reason."""
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-nostats", "-progress", "pipe:1", *args]
    with log.open("ab") as log_file:
        log_file.write(("$ " + " ".join(command) + "\n").encode())
        log_file.flush()
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log_file,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    reader = _ProgressReader(process.stdout)
    reader.start()
    reported = 0.0
    try:
        while process.poll() is None:
            if cancelled():
                raise JobCancelled("render: cancelled while FFmpeg was encoding")
            if time.monotonic() - reader.moved_at > stall_seconds:
                raise RenderStalled(
                    f"render: FFmpeg made no progress for {stall_seconds:g} s and was stopped",
                    log_tail=log_tail(log),
                )
            if reader.seconds != reported:
                reported = reader.seconds
                on_progress(reported)
            time.sleep(POLL_SECONDS)
    finally:
        _kill_group(process)
        # FFmpeg is gone, so the reader meets the end of its pipe; closed under it, its read would raise.
        reader.join(timeout=1)
        if process.stdout:
            process.stdout.close()
    if process.returncode != 0:
        # A full or read-only disk may have taken FFmpeg's own log with it: look at the disk itself.
        if trouble := storage_trouble(Path(args[-1]).parent):
            raise StorageError(f"render: FFmpeg could not write its output: {trouble}", log_tail=log_tail(log))
        raise FfmpegFailed(f"render: FFmpeg exited with code {process.returncode}", log_tail=log_tail(log))
    on_progress(reader.seconds)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()
