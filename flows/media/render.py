"""The final encode: slides on the narration's timeline, H.264 + AAC, one FFmpeg run.

Each slide is shown for exactly its scene's span (so cuts fall where the
narration moves on), panned slowly when it was drawn with room to pan over and
crossfaded into the next with `fade` (`flows.media.motion` builds the picture);
burned captions lie over it, one per sentence.

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
from flows.media.captions import band_height, blank_band, caption_band
from flows.media.ffmpeg import run_ffmpeg
from flows.media.motion import picture_arguments
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
    fade: bool,
    preset: str,
    work: Path,
    out: Path,
    stall_seconds: float,
    cancelled: Callable[[], bool],
    progress: Progress,
) -> Rendered:
    """Encode `out/video.mp4` (and `video.srt`, `thumbnail.jpg`, `ffmpeg.log`), in `work` first."""
    total = math.ceil(narration.seconds)
    progress(0, total, "preparing captions" if subtitles == "burned" else "preparing the timeline")
    size, room = (slides.width, slides.height), (slides.spare_width, slides.spare_height)
    pictures, picture = picture_arguments(
        [(slide, scene.start, scene.end) for slide, scene in zip(slides.images, narration.scenes, strict=True)],
        size=size,
        room=room,
        fps=fps,
        fade=fade,
        captions=_captions(narration, size, work) if subtitles == "burned" else None,
        work=work,
    )
    video = work / "video.mp4"
    log = work / "ffmpeg.log"
    log.unlink(missing_ok=True)
    # fmt: off
    arguments = [
        *pictures,
        "-i", str(narration.audio),
        # The narration is the input after the pictures'.
        "-map", f"[{picture}]", "-map", f"{pictures.count('-i')}:a",
        # Stills (no pan) encode faster tuned for them; moving slides gain nothing from it.
        "-c:v", "libx264", "-preset", preset, *(() if any(room) else ("-tune", "stillimage")), "-crf", "23",
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
    _thumbnail(slides, thumbnail)
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


def _captions(
    narration: Narration, size: tuple[int, int], work: Path
) -> tuple[list[tuple[Path, float, float]], Path, int]:
    """Every sentence's caption band with its span, the blank band, and the bands' height."""
    bands = []
    for number, cue in enumerate(narration.cues()):
        band = work / f"caption-{number:04d}.png"
        caption_band(cue.text, size, band)
        bands.append((band, cue.start, cue.end))
    blank = work / "caption-blank.png"
    blank_band(size, blank)
    return bands, blank, band_height(*size)


def _thumbnail(slides: Slides, out: Path) -> None:
    """The first slide's frame, THUMBNAIL_WIDTH wide."""
    with Image.open(slides.images[0]) as image:
        frame = image.convert("RGB").crop(slides.frame_box())
    ratio = THUMBNAIL_WIDTH / frame.width
    frame.resize((THUMBNAIL_WIDTH, max(2, round(frame.height * ratio)))).save(out, quality=85)
