"""The render's pictures as FFmpeg inputs and one filtergraph: slides on the narration's frames, a slow
pan over each, crossfades centred on the cuts, and burned captions on top.

- **Frames, not seconds.** Every cut is a frame number (`round(seconds × fps)`), and each concat list
  gives its stills a frame rate and whole-frame durations, so two lists cut on the same frame.
- **The pan is a crop.** A slide is drawn a little larger than the frame (`pan_room`) and a frame-size
  window moves across it: `crop` only offsets pointers, so text stays pixel-sharp and the cost is
  nearly nothing (a zoom would resample every frame). Its x and y are piecewise-linear in the frame
  number, one piece per scene, written as a balanced sum (FFmpeg refuses a flat sum of ~100 terms).
- **A crossfade is a blend of two streams.** Stream A is the slides with each cut moved late by half
  the fade, stream B with each cut moved early by the other half; `blend` passes A through outside
  the fade windows and, inside them, mixes in B at an opacity `sendcmd` steps frame by frame, from
  the blend's output (on stream A, the steps ran some frames ahead of the blend, and each fade was
  all but a cut at the window's start). Three inputs whatever the number of scenes: a 120-scene
  video needs no more memory than an 8-scene one (an `xfade` per scene needed 1.9 GB at 120 scenes,
  measured).
- **Captions stay still.** Each sentence's caption is a band image of its own, in a third concat list
  laid over the frame's foot after the blend, so it neither pans nor fades with the slides.

The graph and the fade commands are files in the render's scratch folder.
"""

from pathlib import Path

# How far the window travels, on each axis, as a share of the frame's shorter side. The layout keeps
# margins of 8 % of that side and sits in the middle of the room, so at either end of the pan the text
# is still 5 % of it from the frame's edge.
PAN_SHARE = 0.06
FADE_SECONDS = 0.5
# Where the window starts and ends on the slide, (x0, y0, x1, y1) as shares of the room; one per scene in turn.
PAN_PATHS = [(0, 0, 1, 1), (1, 0, 0, 1), (1, 1, 0, 0), (0, 1, 1, 0), (0, 0.5, 1, 0.5), (1, 0.5, 0, 0.5)]
TO_VIDEO = "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p"

Scene = tuple[Path, float, float]  # a slide, and the seconds it starts and ends on the narration
Caption = tuple[Path, float, float]  # a caption band, and the seconds of its sentence


def pan_room(width: int, height: int) -> tuple[int, int]:
    """Extra (width, height) a slide needs to be panned over; even, for yuv420p."""
    room = 2 * round(min(width, height) * PAN_SHARE / 2)
    return room, room


def picture_arguments(
    scenes: list[Scene],
    *,
    size: tuple[int, int],
    room: tuple[int, int],
    fps: int,
    fade: bool,
    captions: tuple[list[Caption], Path, int] | None,
    work: Path,
) -> tuple[list[str], str]:
    """FFmpeg's picture inputs and filtergraph options, and the label of the finished picture.

    `room` is how much larger than `size` the slides are ((0, 0): no pan); `captions` are the sentences'
    bands, a blank band of the same size, and its height.
    """
    cuts = [round(start * fps) for _, start, _ in scenes] + [round(scenes[-1][2] * fps)]
    fade_frames = _fade_frames(cuts, fps) if fade else 0
    before, after = fade_frames // 2, fade_frames - fade_frames // 2
    # Each scene's frames on screen, its fades included: the span its pan runs over.
    spans = [
        (cut - (before if index else 0), end + (after if index < len(scenes) - 1 else 0))
        for index, (cut, end) in enumerate(zip(cuts, cuts[1:], strict=False))
    ]
    slides = [slide for slide, _, _ in scenes]
    arguments = _concat_input(work / "a.ffconcat", slides, _moved(cuts, after), fps)
    a_stream = _stream(_moved(cuts, after), spans, size, room, fps)
    if not fade_frames:
        graph, picture = [f"[0:v]{a_stream}[a]"], "a"
    else:
        arguments += _concat_input(work / "b.ffconcat", slides, _moved(cuts, -before), fps)
        windows = [(cut - before, cut + after) for cut in cuts[1:-1]]
        commands = work / "fades.cmd"
        commands.write_text(_fade_commands(windows, fps), encoding="utf-8")
        enable = _balanced_sum([f"between(n,{start},{end - 1})" for start, end in windows])
        graph = [
            f"[0:v]{a_stream}[a]",
            f"[1:v]{_stream(_moved(cuts, -before), spans, size, room, fps)}[b]",
            f"[a][b]blend@fade=all_mode=normal:all_opacity=1:enable='{enable}',sendcmd=f={_quoted(commands)}[faded]",
        ]
        picture = "faded"
    if captions:
        bands, blank, band_height = captions
        captions_input = 2 if fade_frames else 1  # after the slide streams
        arguments += _concat_input(work / "captions.ffconcat", *_caption_track(bands, blank, cuts[-1], fps), fps)
        graph += [
            f"[{captions_input}:v]scale=out_color_matrix=bt709:out_range=tv,format=yuva420p,fps={fps}[bands]",
            f"[{picture}][bands]overlay=0:{size[1] - band_height}:format=yuv420:eof_action=pass[captioned]",
        ]
        picture = "captioned"
    script = work / "picture.graph"
    script.write_text(";\n".join(graph), encoding="utf-8")
    return [*arguments, "-/filter_complex", str(script)], picture


def _fade_frames(cuts: list[int], fps: int) -> int:
    """The fade's length in frames: half a second, but never over half of the shortest scene."""
    shortest = min(end - start for start, end in zip(cuts, cuts[1:], strict=False))
    return 0 if len(cuts) < 3 else max(0, min(round(FADE_SECONDS * fps), shortest // 2))


def _moved(cuts: list[int], shift: int) -> list[int]:
    """The cuts between scenes moved by `shift` frames; the first and last frame stay."""
    return [cuts[0], *(cut + shift for cut in cuts[1:-1]), cuts[-1]]


def _stream(
    cuts: list[int], spans: list[tuple[int, int]], size: tuple[int, int], room: tuple[int, int], fps: int
) -> str:
    """One stream's filters: each still converted once, repeated to frames, and panned."""
    chain = f"{TO_VIDEO},fps={fps}"
    if room == (0, 0):
        return chain
    width, height = size
    xs, ys = [], []
    for index, ((start, end), (x0, y0, x1, y1)) in enumerate(zip(spans, _paths(len(spans)), strict=True)):
        on_screen = f"between(n,{cuts[index]},{cuts[index + 1] - 1})"
        progress = f"(n-{start})/{max(1, end - start - 1)}"
        xs.append(f"{on_screen}*({room[0] * x0}+{room[0] * (x1 - x0)}*{progress})")
        ys.append(f"{on_screen}*({room[1] * y0}+{room[1] * (y1 - y0)}*{progress})")
    return f"{chain},crop={width}:{height}:x='{_balanced_sum(xs)}':y='{_balanced_sum(ys)}':exact=1"


def _paths(count: int) -> list[tuple[float, float, float, float]]:
    return [PAN_PATHS[index % len(PAN_PATHS)] for index in range(count)]


def _fade_commands(windows: list[tuple[int, int]], fps: int) -> str:
    """`sendcmd` lines stepping stream A's opacity down across each window, a frame at a time."""
    lines = []
    for start, end in windows:
        frames = end - start
        for step in range(frames):
            # Set as the frame before leaves the blend, so the value is in place when that frame is blended.
            at = max(0.0, (start + step - 1.5) / fps)
            lines.append(f"{at:.6f} blend@fade all_opacity {1 - (step + 1) / (frames + 1):.4f};")
    return "\n".join(lines) + "\n"


def _caption_track(bands: list[Caption], blank: Path, frames: int, fps: int) -> tuple[list[Path], list[int]]:
    """The band to show on each frame range: each sentence's, and the blank one between them."""
    images: list[Path] = []
    cuts = [0]
    for band, start, end in bands:
        first, last = round(start * fps), round(end * fps)
        if first > cuts[-1]:
            images.append(blank)
            cuts.append(first)
        if last > cuts[-1]:
            images.append(band)
            cuts.append(last)
    if frames > cuts[-1]:
        images.append(blank)
        cuts.append(frames)
    return images, cuts


def _concat_input(path: Path, images: list[Path], cuts: list[int], fps: int) -> list[str]:
    """A concat list showing images[i] from frame cuts[i] to cuts[i + 1], as FFmpeg input options."""
    lines = ["ffconcat version 1.0"]
    for image, start, end in zip(images, cuts, cuts[1:], strict=False):
        lines += [f"file {_quoted(image)}", f"option framerate {fps}", f"duration {(end - start) / fps:.6f}"]
    # The concat demuxer ignores the last entry's duration unless the file is listed again.
    lines += [f"file {_quoted(images[-1])}", f"option framerate {fps}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ["-f", "concat", "-safe", "0", "-i", str(path)]


def _balanced_sum(terms: list[str]) -> str:
    if len(terms) == 1:
        return terms[0]
    middle = len(terms) // 2
    return f"({_balanced_sum(terms[:middle])})+({_balanced_sum(terms[middle:])})"


def _quoted(path: Path) -> str:
    return "'" + str(path).replace("'", "'\\''") + "'"
