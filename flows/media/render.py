"""The final encode: slides on the narration's timeline, H.264 + AAC, one FFmpeg run.

Each slide is a still shown for exactly its scene's span (so cuts fall where
the narration moves on); with burned subtitles each sentence gets its own
still with the caption drawn in. The pixel format is converted once per
still, before the frame-rate filter repeats it (measured twice as fast as
the other order).

Everything is written in the scratch folder (`work`) and moved into the stage's
results folder (`out`) only once the encode has succeeded, so `out` never holds a
partial video: a cancelled, stalled or failed encode leaves there only its
`ffmpeg.log`, where an operator looks for the encoder's own message.
"""

import math
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from PIL import Image

from flows.contract.errors import StorageError
from flows.media.captions import caption_image
from flows.media.ffmpeg import run_ffmpeg
from flows.media.subtitles import write_srt
from flows.models import Narration, Rendered, Slides
from flows.storage.publish import move_into

THUMBNAIL_WIDTH = 640
Progress = Callable[[int, int, str], None]


def render_video(
    narration: Narration,
    slides: Slides,
    *,
    fps: int,
    subtitles: str,
    preset: str,
    work: Path,
    out: Path,
    stall_seconds: float,
    cancelled: Callable[[], bool],
    progress: Progress,
) -> Rendered:
    """Encode `out/video.mp4` (and `video.srt`, `thumbnail.jpg`, `ffmpeg.log`), in `work` first."""
    total = math.ceil(narration.seconds)
    progress(0, total, "preparing stills")
    timeline = _timeline(narration, slides, burned=subtitles == "burned", work=work)
    playlist = work / "timeline.ffconcat"
    playlist.write_text(_ffconcat(timeline), encoding="utf-8")

    video = work / "video.mp4"
    log = work / "ffmpeg.log"
    log.unlink(missing_ok=True)
    # fmt: off
    arguments = [
        "-f", "concat", "-safe", "0", "-i", str(playlist),
        "-i", str(narration.audio),
        "-map", "0:v", "-map", "1:a",
        "-vf", f"scale=out_color_matrix=bt709:out_range=tv,format=yuv420p,fps={fps}",
        "-c:v", "libx264", "-preset", preset, "-tune", "stillimage", "-crf", "23",
        "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709",
        "-c:a", "aac", "-b:a", "128k", "-ar", "44100",
        "-t", f"{narration.seconds:.3f}",
        "-movflags", "+faststart",
        str(video),
    ]
    # fmt: on
    try:
        run_ffmpeg(
            arguments,
            log=log,
            stall_seconds=stall_seconds,
            cancelled=cancelled,
            on_progress=lambda seconds: progress(
                min(total, int(seconds)), total, f"second {min(total, int(seconds))} of {total}"
            ),
        )
    except BaseException:
        # Cancelled (JobCancelled, KeyboardInterrupt, Prefect's TerminationSignal), stalled or
        # failed: the partial video stays in scratch, which the attempt's end removes; the log
        # goes where it always was, for the encoder's own message.
        with suppress(StorageError):
            move_into([log], out)
        raise

    srt = None
    if subtitles != "none":
        srt = work / "video.srt"
        write_srt(narration.cues(), srt)
    thumbnail = work / "thumbnail.jpg"
    _thumbnail(slides.images[0], thumbnail)
    # Complete: only now into the stage's results (the log first, as on a failure).
    move_into([log], out)
    move_into([video, thumbnail, *([srt] if srt else [])], out)
    progress(total, total, f"{total} seconds encoded")
    return Rendered(
        video=out / video.name,
        subtitles=out / srt.name if srt else None,
        thumbnail=out / thumbnail.name,
        log=out / log.name,
        seconds=narration.seconds,
    )


def _timeline(narration: Narration, slides: Slides, *, burned: bool, work: Path) -> list[tuple[Path, float]]:
    """(still, seconds) pairs that cover the narration from 0 to its end."""
    timeline: list[tuple[Path, float]] = []
    for index, (scene, slide) in enumerate(zip(narration.scenes, slides.images, strict=True)):
        if not burned:
            timeline.append((slide, scene.end - scene.start))
            continue
        clock = scene.start
        for number, cue in enumerate(scene.cues):
            if cue.start > clock:
                timeline.append((slide, cue.start - clock))
            still = work / f"caption-{index:03d}-{number:03d}.png"
            caption_image(slide, cue.text, still)
            timeline.append((still, cue.end - cue.start))
            clock = cue.end
        if scene.end > clock:
            timeline.append((slide, scene.end - clock))
    return timeline


def _ffconcat(timeline: list[tuple[Path, float]]) -> str:
    def quoted(path: Path) -> str:
        return "'" + str(path).replace("'", "'\\''") + "'"

    lines = ["ffconcat version 1.0"]
    for still, seconds in timeline:
        lines += [f"file {quoted(still)}", f"duration {seconds:.6f}"]
    # The concat demuxer ignores the last entry's duration unless the file is listed again.
    lines.append(f"file {quoted(timeline[-1][0])}")
    return "\n".join(lines) + "\n"


def _thumbnail(slide: Path, out: Path) -> None:
    with Image.open(slide) as image:
        ratio = THUMBNAIL_WIDTH / image.width
        small = image.convert("RGB").resize((THUMBNAIL_WIDTH, max(2, round(image.height * ratio))))
        small.save(out, quality=85)
