"""SubRip (`.srt`) subtitles: one cue per narrated sentence."""

import textwrap
from pathlib import Path

from flows.models import Cue

LINE_WIDTH = 42


def srt_time(seconds: float) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d},{millis:03d}"


def write_srt(cues: list[Cue], path: Path) -> None:
    blocks = []
    for number, cue in enumerate(cues, start=1):
        text = "\n".join(textwrap.wrap(cue.text, LINE_WIDTH)) or cue.text
        blocks.append(f"{number}\n{srt_time(cue.start)} --> {srt_time(cue.end)}\n{text}\n")
    path.write_text("\n".join(blocks), encoding="utf-8")
