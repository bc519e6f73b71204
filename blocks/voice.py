"""Voices: eSpeak NG, shipped in the espeakng-loader wheel."""

from prefect.blocks.core import Block
from pydantic import Field


class EspeakVoice(Block):
    """eSpeak NG narration; the request's voice settings win over these defaults."""

    _block_type_name = "Aura eSpeak Voice"
    _description = "Offline speech from eSpeak NG, shipped in the espeakng-loader wheel."

    voice: str = Field(default="en", description="Voice used when the request names none, e.g. en-us.")
