"""Fonts and text fitting for slides and burned-in captions.

DejaVu Sans is used when the system has it (wide script coverage); otherwise
Pillow's bundled font, so a machine with nothing but `pip` still draws text.
A character no font here can draw shows as the font's empty box, and
`missing_glyphs` names such characters so the stage can warn about them.
"""

from functools import cache
from pathlib import Path

from PIL import ImageFont

FONT_CANDIDATES = {
    True: (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf",
    ),
    False: (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    ),
}
# A private-use code point no font maps: what the font draws for it is its "missing" box.
UNMAPPED = "\U0010fffd"

Font = ImageFont.FreeTypeFont


@cache
def font(size: int, *, bold: bool = False) -> Font:
    for candidate in FONT_CANDIDATES[bold]:
        if Path(candidate).is_file():
            return ImageFont.truetype(candidate, size)
    return ImageFont.load_default(size=size)  # type: ignore[return-value]


def wrap(text: str, face: Font, width: float) -> list[str]:
    """Break `text` into lines no wider than `width`; words too long are split by character."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if face.getlength(candidate) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = ""
        for char in word:
            if face.getlength(line + char) > width and line:
                lines.append(line)
                line = ""
            line += char
    if line:
        lines.append(line)
    return lines


def fit(
    paragraphs: list[str],
    *,
    width: float,
    height: float,
    size: int,
    bold: bool = False,
    spacing: float = 1.25,
    paragraph_gap: float = 0.0,
    min_size: int = 10,
) -> tuple[Font, list[list[str]]]:
    """The largest font up to `size` at which the paragraphs fit the box, and their lines.

    If they do not fit even at `min_size`, lines past the box are dropped and
    the last one kept ends with an ellipsis: text never leaves its box.
    """
    while True:
        face = font(size, bold=bold)
        wrapped = [wrap(paragraph, face, width) for paragraph in paragraphs]
        lines = sum(len(item) for item in wrapped)
        gaps = size * paragraph_gap * (len(paragraphs) - 1)
        if lines * size * spacing + gaps <= height:
            return face, wrapped
        if size <= min_size:
            return face, _truncate(wrapped, max(1, int((height - gaps) // (size * spacing))))
        size = max(min_size, int(size * 0.9))


def _truncate(wrapped: list[list[str]], budget: int) -> list[list[str]]:
    kept: list[list[str]] = []
    for lines in wrapped:
        if budget <= 0:
            break
        kept.append(lines[:budget])
        budget -= len(kept[-1])
    kept[-1][-1] = kept[-1][-1].rstrip(" .…")[:-1] + "…"
    return kept


def missing_glyphs(text: str, face: Font) -> set[str]:
    """Characters of `text` this font draws as its empty box."""
    box = bytes(face.getmask(UNMAPPED))
    return {char for char in set(text) if not char.isspace() and bytes(face.getmask(char)) == box}
