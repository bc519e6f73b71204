"""Visuals: one slide per scene, drawn with Pillow."""

from typing import Literal

from prefect.blocks.core import Block
from pydantic import Field


class SlideVisuals(Block):
    """One slide per scene drawn with Pillow."""

    _block_type_name = "Aura Slide Visuals"
    _description = "Title and key points of each scene on a gradient background."

    style: Literal["modern", "minimal", "bold"] | None = Field(
        default=None, description="Colour scheme for every job using this block; none keeps the request's."
    )
