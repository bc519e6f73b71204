"""What a media file really holds, read with the bundled FFmpeg (the wheel has no ffprobe)."""

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from flows.media.ffmpeg import ffmpeg_exe

_STREAM = re.compile(r"Stream #0:(\d+).*?: (Video|Audio): (\w+)(.*)")
_SIZE = re.compile(r", (\d{2,5})x(\d{2,5})")
_RATE = re.compile(r"(\d+) Hz")
_TIME = re.compile(r"time=(\d+):(\d+):(\d+\.\d+)")
_MAX_VOLUME = re.compile(r"max_volume: (-?[\d.]+|-inf) dB")


@dataclass(frozen=True)
class Stream:
    kind: str
    codec: str
    width: int | None
    height: int | None
    sample_rate: int | None
    seconds: float
    pixel_format: str | None


@dataclass(frozen=True)
class Probe:
    streams: list[Stream]

    def first(self, kind: str) -> Stream:
        return next(stream for stream in self.streams if stream.kind == kind)


def _ffmpeg(*args: str) -> str:
    result = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", *args],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=120,
    )
    return result.stderr


def probe(path: Path) -> Probe:
    """Streams of `path`, each with its own duration measured by demuxing it."""
    streams = []
    for index, kind, codec, rest in _STREAM.findall(_ffmpeg("-i", str(path))):
        size = _SIZE.search(rest)
        rate = _RATE.search(rest)
        pixel_format = rest.split(",")[1].strip().split("(")[0] if kind == "Video" else None
        streams.append(
            Stream(
                kind=kind.lower(),
                codec=codec,
                width=int(size.group(1)) if size and kind == "Video" else None,
                height=int(size.group(2)) if size and kind == "Video" else None,
                sample_rate=int(rate.group(1)) if rate else None,
                seconds=_stream_seconds(path, int(index)),
                pixel_format=pixel_format,
            )
        )
    return Probe(streams=streams)


def _stream_seconds(path: Path, index: int) -> float:
    times = _TIME.findall(_ffmpeg("-i", str(path), "-map", f"0:{index}", "-c", "copy", "-f", "null", "-"))
    if not times:
        return 0.0
    hours, minutes, seconds = times[-1]
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def max_volume_db(path: Path) -> float:
    """Peak level of the first audio stream in dBFS; `-inf` for digital silence."""
    found = _MAX_VOLUME.search(_ffmpeg("-i", str(path), "-map", "0:a:0", "-af", "volumedetect", "-f", "null", "-"))
    if not found:
        raise ValueError(f"{path} has no audio stream to measure")
    return float(found.group(1))
