"""One slide per scene, drawn with Pillow at the output size.

Sizes are fractions of the frame's shorter side, so 16:9, 9:16 and 1:1
slides share one look; text is fitted (wrapped, then shrunk) into its box
and never runs off the frame.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from flows.media import typography
from flows.models import Script, Slides

Progress = Callable[[int, int, str], None]
PARAGRAPH_GAP = 0.5


@dataclass(frozen=True)
class Palette:
    top: tuple[int, int, int]
    bottom: tuple[int, int, int]
    accent: tuple[int, int, int]
    text: tuple[int, int, int]
    muted: tuple[int, int, int]


PALETTES = {
    "modern": Palette((18, 32, 58), (38, 74, 110), (255, 183, 3), (248, 248, 242), (190, 205, 220)),
    "minimal": Palette((250, 250, 247), (232, 234, 236), (40, 120, 200), (28, 30, 34), (90, 96, 104)),
    "bold": Palette((120, 10, 40), (220, 60, 30), (255, 230, 0), (255, 255, 255), (255, 220, 200)),
}


def draw_slides(
    script: Script,
    *,
    width: int,
    height: int,
    spare: tuple[int, int] = (0, 0),
    style: str,
    folder: Path,
    progress: Progress,
) -> tuple[Slides, set[str]]:
    """Draw every scene into `folder`; also return the characters the font could not draw.

    With `spare` (extra width, height) the background reaches that much further and the frame-size
    layout sits in its middle: room for the render to pan over, with the text always in the frame.
    """
    palette = PALETTES[style]
    layout = Slides(images=[], width=width, height=height, spare_width=spare[0], spare_height=spare[1])
    background = _background(width + spare[0], height + spare[1], palette)
    window = layout.frame_box()
    images: list[Path] = []
    missing: set[str] = set()
    total = len(script.scenes)
    for index, scene in enumerate(script.scenes):
        progress(index, total, f"slide {index + 1} of {total}")
        image = background.copy()
        frame = image.crop(window)
        missing |= _draw_scene(frame, scene.title, scene.on_screen, index, total, palette)
        image.paste(frame, window[:2])
        path = folder / f"slide-{index:03d}.png"
        # Fast PNG compression: these files live minutes and are read once by FFmpeg.
        image.save(path, compress_level=1)
        images.append(path)
    progress(total, total, f"{total} slides drawn")
    return layout.model_copy(update={"images": images}), missing


def _background(width: int, height: int, palette: Palette) -> Image.Image:
    gradient = Image.linear_gradient("L").resize((width, height))
    top = Image.new("RGB", (width, height), palette.top)
    bottom = Image.new("RGB", (width, height), palette.bottom)
    return Image.composite(bottom, top, gradient)


def _draw_scene(
    image: Image.Image, title: str, points: list[str], index: int, total: int, palette: Palette
) -> set[str]:
    width, height = image.size
    unit = min(width, height)
    margin = round(unit * 0.08)
    draw = ImageDraw.Draw(image)
    box_width = width - 2 * margin

    draw.rectangle((margin, margin, margin + unit * 0.12, margin + unit * 0.012), fill=palette.accent)
    title_top = margin + round(unit * 0.04)
    title_face, title_lines = typography.fit(
        [title], width=box_width, height=height * 0.3, size=round(unit * 0.085), bold=True
    )
    y = _draw_lines(draw, title_lines[0], title_face, margin, title_top, palette.text)

    footer_size = round(unit * 0.03)
    footer_top = height - margin - footer_size
    body_top = y + round(unit * 0.05)
    body_face, body_lines = typography.fit(
        [f"• {point}" for point in points],
        width=box_width,
        height=footer_top - body_top - unit * 0.03,
        size=round(unit * 0.05),
        paragraph_gap=PARAGRAPH_GAP,
    )
    for lines in body_lines:
        y = _draw_lines(draw, lines, body_face, margin, body_top, palette.muted)
        body_top = y + body_face.size * PARAGRAPH_GAP

    footer = typography.font(footer_size)
    draw.text((margin, footer_top), f"{index + 1} / {total}", font=footer, fill=palette.muted)
    drawn = title + "".join(points)
    return typography.missing_glyphs(drawn, title_face) | typography.missing_glyphs(drawn, body_face)


def _draw_lines(
    draw: ImageDraw.ImageDraw,
    lines: list[str],
    face: typography.Font,
    left: int,
    top: float,
    fill: tuple[int, int, int],
) -> float:
    line_height = face.size * 1.25
    for line in lines:
        draw.text((left, top), line, font=face, fill=fill)
        top += line_height
    return top
