"""The render's moving pictures, encoded by FFmpeg and read back frame by frame (no Prefect needed)."""

import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from flows.media.ffmpeg import ffmpeg_exe
from flows.media.motion import FADE_SECONDS, pan_room
from flows.media.probe import probe
from flows.media.render import render_video
from flows.models import Narration
from flows.providers.script_rules import write_script
from flows.providers.slides import draw_slides
from tests.utils.factories import make_request
from tests.utils.narration import narrated

pytestmark = pytest.mark.slow
FPS = 30


def rendered(
    folder: Path, *, aspect: str = "16:9", width: int = 640, motion: bool, fade: bool
) -> tuple[Path, Narration]:
    # Three scenes: the second, whose cuts the tests look at, lies between two others.
    request = make_request(
        brief={"aspect": aspect}, plan={"targetDurationSeconds": 24, "density": "dense"}, render={"width": width}
    )
    size = request.frame_size()
    script = write_script(request)
    (folder / "out").mkdir(parents=True)
    narration = narrated(request, script, folder / "n.wav")
    slides, _ = draw_slides(
        script,
        width=size[0],
        height=size[1],
        spare=pan_room(*size) if motion else (0, 0),
        style="modern",
        folder=folder,
        progress=lambda *_: None,
    )
    out = render_video(
        narration,
        slides,
        fps=FPS,
        subtitles="sidecar",
        fade=fade,
        preset="ultrafast",
        work=folder,
        out=folder / "out",
        stall_seconds=60,
        cancelled=lambda: False,
        progress=lambda *_: None,
    )
    return out.video, narration


def frame(video: Path, number: int) -> Image.Image:
    """Frame `number` (from 0), decoded exactly."""
    png = video.with_name(f"frame-{number}.png")
    subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-y",
            "-i",
            str(video),
            "-vf",
            f"select=eq(n\\,{number})",
            "-frames:v",
            "1",
            str(png),
        ],
        check=True,
    )
    with Image.open(png) as image:
        return image.convert("L")


def difference(one: Image.Image, other: Image.Image) -> float:
    return ImageStat.Stat(ImageChops.difference(one, other)).mean[0]


@pytest.fixture(scope="module")
def moving(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Narration]:
    return rendered(tmp_path_factory.mktemp("moving") / "job", motion=True, fade=True)


def test_a_slide_pans_across_its_scene_and_the_video_keeps_the_narrations_length(
    moving: tuple[Path, Narration],
) -> None:
    video, narration = moving
    scene = narration.scenes[1]
    early, late = round(scene.start * FPS) + 20, round(scene.end * FPS) - 20
    assert difference(frame(video, early), frame(video, late)) > 2, "the pan moves the slide within its scene"
    media = probe(video)
    assert abs(media.first("video").seconds - narration.seconds) <= 1 / FPS + 0.01
    assert (media.first("video").width, media.first("video").height) == (640, 360)


def test_a_crossfades_middle_frame_differs_from_both_scenes_around_it(moving: tuple[Path, Narration]) -> None:
    video, narration = moving
    cut = round(narration.scenes[1].start * FPS)
    half = round(FADE_SECONDS * FPS) // 2
    before, middle, after = frame(video, cut - half - 2), frame(video, cut), frame(video, cut + half + 2)
    assert difference(before, after) > 5, "two different slides"
    assert difference(middle, before) > 2 and difference(middle, after) > 2, "the middle of the fade is a mix"
    # A mix: nearer to each neighbour than the neighbours are to each other.
    assert difference(middle, before) < difference(before, after) > difference(middle, after)


def test_without_motion_and_fades_a_scene_is_one_still_and_a_cut_is_sharp(tmp_path: Path) -> None:
    video, narration = rendered(tmp_path / "job", motion=False, fade=False)
    scene = narration.scenes[1]
    first, last = round(scene.start * FPS) + 1, round(scene.end * FPS) - 2
    assert difference(frame(video, first), frame(video, last)) < 0.5, "nothing moves"
    cut = round(scene.start * FPS)
    assert difference(frame(video, cut - 1), frame(video, cut)) > 5


@pytest.mark.parametrize(("aspect", "width"), [("16:9", 640), ("9:16", 360), ("1:1", 480)])
def test_text_stays_inside_the_frame_wherever_the_pan_is(tmp_path: Path, aspect: str, width: int) -> None:
    video, narration = rendered(tmp_path / "job", aspect=aspect, width=width, motion=True, fade=False)
    for scene in narration.scenes[:2]:
        for number in (round(scene.start * FPS) + 1, round(scene.end * FPS) - 2):
            picture = frame(video, number)
            side = round(min(picture.size) * 0.04)  # the text keeps 5 % of the shorter side free
            edges = [
                picture.crop((0, 0, side, picture.height)),
                picture.crop((picture.width - side, 0, picture.width, picture.height)),
                picture.crop((0, 0, picture.width, side)),
                picture.crop((0, picture.height - side, picture.width, picture.height)),
            ]
            # The slides' text is near white, their background a dark blue gradient (the "modern" style).
            assert max(edge.getextrema()[1] for edge in edges) < 140, f"text at the edge of frame {number}"
