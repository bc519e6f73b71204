"""The render's filtergraph as text and files, before FFmpeg sees it (the frames are checked in tests/e2e)."""

from pathlib import Path

from flows.media.motion import pan_room, picture_arguments


def scenes(count: int, seconds: float = 4.0) -> list[tuple[Path, float, float]]:
    return [(Path(f"/slides/{index}.png"), index * seconds, (index + 1) * seconds) for index in range(count)]


def test_the_pan_room_is_even_and_the_same_share_of_the_shorter_side_at_every_aspect() -> None:
    assert pan_room(1920, 1080) == (64, 64)
    assert pan_room(1080, 1920) == (64, 64)
    assert pan_room(320, 180) == (10, 10)


def test_fades_are_centred_on_the_cuts_and_the_two_streams_cut_half_a_fade_apart(tmp_path: Path) -> None:
    arguments, picture = picture_arguments(
        scenes(3), size=(640, 360), room=(22, 22), fps=30, fade=True, captions=None, work=tmp_path
    )
    assert picture == "faded" and arguments.count("-i") == 2
    durations = [line for line in (tmp_path / "a.ffconcat").read_text().splitlines() if line.startswith("duration")]
    assert durations == ["duration 4.266667", "duration 4.000000", "duration 3.733333"], "A runs on 8 frames"
    early = [line for line in (tmp_path / "b.ffconcat").read_text().splitlines() if line.startswith("duration")]
    assert early == ["duration 3.766667", "duration 4.000000", "duration 4.233333"], "B starts 7 frames early"
    commands = (tmp_path / "fades.cmd").read_text().splitlines()
    # Each value is sent as the frame before the window's leaves the blend: frame 112, at 3.733 s.
    assert len(commands) == 2 * 15 and commands[0].startswith("3.716667 blend@fade all_opacity 0.9375")
    graph = (tmp_path / "picture.graph").read_text()
    # After the blend, not before it on stream A, which runs frames ahead of it (the fade was a cut then).
    assert "enable='(between(n,113,127))+(between(n,233,247))',sendcmd=f=" in graph
    assert "between(n,113,127)" in graph and "between(n,233,247)" in graph, "the windows around frames 120 and 240"
    assert "crop=640:360:x=" in graph and ":exact=1" in graph


def test_without_motion_or_fades_the_picture_is_one_stream_of_stills(tmp_path: Path) -> None:
    arguments, picture = picture_arguments(
        scenes(3), size=(640, 360), room=(0, 0), fps=30, fade=False, captions=None, work=tmp_path
    )
    graph = (tmp_path / "picture.graph").read_text()
    assert (picture, arguments.count("-i")) == ("a", 1)
    assert "crop" not in graph and "blend" not in graph


def test_a_fade_is_never_longer_than_half_the_shortest_scene(tmp_path: Path) -> None:
    short = [(Path("/a.png"), 0.0, 4.0), (Path("/b.png"), 4.0, 4.2), (Path("/c.png"), 4.2, 8.0)]
    picture_arguments(short, size=(640, 360), room=(0, 0), fps=30, fade=True, captions=None, work=tmp_path)
    assert len((tmp_path / "fades.cmd").read_text().splitlines()) == 2 * 3, "6-frame scene: 3-frame fades"


def test_captions_are_a_third_stream_of_bands_with_blanks_between_sentences(tmp_path: Path) -> None:
    bands = [(Path("/c0.png"), 0.5, 2.0), (Path("/c1.png"), 2.2, 3.9)]
    arguments, picture = picture_arguments(
        scenes(1),
        size=(640, 360),
        room=(0, 0),
        fps=30,
        fade=True,
        captions=(bands, Path("/blank.png"), 108),
        work=tmp_path,
    )
    assert picture == "captioned" and arguments.count("-i") == 2, "one slide: nothing to fade"
    listed = [line for line in (tmp_path / "captions.ffconcat").read_text().splitlines() if line.startswith("file")]
    assert listed == [
        "file '/blank.png'",
        "file '/c0.png'",
        "file '/blank.png'",
        "file '/c1.png'",
        "file '/blank.png'",
        "file '/blank.png'",
    ]
    assert (
        "[1:v]" in (tmp_path / "picture.graph").read_text()
        and "overlay=0:252" in (tmp_path / "picture.graph").read_text()
    )


def test_a_long_video_keeps_three_inputs_and_expressions_ffmpeg_accepts(tmp_path: Path) -> None:
    arguments, _ = picture_arguments(
        scenes(150), size=(640, 360), room=(22, 22), fps=30, fade=True, captions=None, work=tmp_path
    )
    assert arguments.count("-i") == 2
    graph = (tmp_path / "picture.graph").read_text()
    # A balanced sum: nesting grows with the log of the scene count, where a flat sum of ~100 fails.
    assert max(len(part) - len(part.lstrip("(")) for part in graph.split("+")) <= 9
