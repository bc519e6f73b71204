"""Burned-in subtitles: each sentence's caption drawn as a band, laid over the frame's foot.

Drawing with Pillow instead of FFmpeg's `subtitles` filter keeps the render
free of libass and fontconfig, which a pip-only machine may lack. The band is an
image of its own (transparent but for the caption's box), so the render lays it
over the moving slides and it stays still (`flows.media.motion`).
"""

from pathlib import Path

from PIL import Image, ImageDraw

from flows.media import typography

BAND_OPACITY = 170
# A band's height as a share of the frame's shorter side: the text box (16 %) and its margins.
BAND_SHARE = 0.3


def band_height(width: int, height: int) -> int:
    """The height of every caption band of a frame: room for the longest caption and its margins."""
    return 2 * round(min(width, height) * BAND_SHARE / 2)


def caption_band(text: str, size: tuple[int, int], out: Path) -> None:
    """Write the foot of a `size` frame with `text` in a dark box, transparent around it, to `out`."""
    width, height = size
    unit = min(width, height)
    margin = round(unit * 0.05)
    face, wrapped = typography.fit([text], width=width - 4 * margin, height=unit * 0.16, size=round(unit * 0.045))
    lines = wrapped[0]
    line_height = face.size * 1.25
    band = band_height(width, height)
    box_top = band - margin - (len(lines) * line_height + margin)
    image = Image.new("RGBA", (width, band), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle(
        (margin, box_top, width - margin, band - margin), radius=round(unit * 0.015), fill=(0, 0, 0, BAND_OPACITY)
    )
    y = box_top + margin / 2
    for line in lines:
        draw.text(((width - face.getlength(line)) / 2, y), line, font=face, fill=(255, 255, 255, 255))
        y += line_height
    image.save(out, compress_level=1)


def blank_band(size: tuple[int, int], out: Path) -> None:
    """A caption band with nothing in it, shown between sentences."""
    Image.new("RGBA", (size[0], band_height(*size)), (0, 0, 0, 0)).save(out, compress_level=1)
