from pathlib import Path

import pytest
from PIL import Image, ImageChops

from flows.models import Scene, Script
from flows.providers.slides import PALETTES, _background, draw_slides

LONG = "Pollination " * 40


def script(title: str, points: list[str]) -> Script:
    return Script(
        title=title,
        provider="test",
        scenes=[Scene(title=title, narration=["One."], on_screen=points) for _ in range(3)],
    )


@pytest.mark.parametrize(("width", "height"), [(1920, 1080), (1080, 1920), (1080, 1080), (320, 180)])
def test_slides_are_drawn_at_the_output_size_and_text_stays_inside_the_margins(
    tmp_path: Path, width: int, height: int
) -> None:
    slides, _ = draw_slides(
        script(LONG, [LONG, LONG, LONG]),
        width=width,
        height=height,
        style="modern",
        folder=tmp_path,
        progress=lambda *_: None,
    )
    background = _background(width, height, PALETTES["modern"])
    margin = round(min(width, height) * 0.08) - 2
    for path in slides.images:
        with Image.open(path) as image:
            assert image.size == (width, height)
            difference = ImageChops.difference(image.convert("RGB"), background)
            assert difference.getbbox() is not None, "nothing was drawn"
            left, top, right, bottom = difference.getbbox()
            assert left >= margin and top >= margin
            assert right <= width - margin and bottom <= height - margin


def test_progress_counts_every_slide(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    draw_slides(
        script("Bees", ["a", "b"]),
        width=320,
        height=180,
        style="bold",
        folder=tmp_path,
        progress=lambda current, total, _: calls.append((current, total)),
    )
    assert calls == [(0, 3), (1, 3), (2, 3), (3, 3)]


def test_characters_the_font_lacks_are_reported_not_fatal(tmp_path: Path) -> None:
    slides, missing = draw_slides(
        script("Bees 🐝 蜜蜂", ["café"]),
        width=640,
        height=360,
        style="minimal",
        folder=tmp_path,
        progress=lambda *_: None,
    )
    assert len(slides.images) == 3
    assert "🐝" in missing
    assert "é" not in missing
