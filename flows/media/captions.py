"""Burned-in subtitles: the caption drawn onto a copy of the slide.

Drawing with Pillow instead of FFmpeg's `subtitles` filter keeps the render
free of libass and fontconfig, which a pip-only machine may lack, and costs one
still image per sentence instead of a filter pass over every frame.
"""

from pathlib import Path

from PIL import Image, ImageDraw

from flows.media import typography

BAND_OPACITY = 170


def caption_image(slide: Path, text: str, out: Path) -> None:
    """Write `slide` with `text` in a dark band at its foot to `out`."""
    with Image.open(slide) as opened:
        image = opened.convert("RGB")
    width, height = image.size
    unit = min(width, height)
    margin = round(unit * 0.05)
    face, wrapped = typography.fit([text], width=width - 4 * margin, height=unit * 0.16, size=round(unit * 0.045))
    lines = wrapped[0]
    line_height = face.size * 1.25
    band_height = len(lines) * line_height + margin
    band_top = height - margin - band_height
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    draw.rounded_rectangle(
        (margin, band_top, width - margin, height - margin),
        radius=round(unit * 0.015),
        fill=(0, 0, 0, BAND_OPACITY),
    )
    y = band_top + margin / 2
    for line in lines:
        line_width = face.getlength(line)
        draw.text(((width - line_width) / 2, y), line, font=face, fill=(255, 255, 255, 255))
        y += line_height
    Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB").save(out, compress_level=1)
