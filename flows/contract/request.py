"""The create body of a job (`POST /api/jobs`), validated before any work starts.

The same model is the HTTP body and the flow parameter, so a request the API
accepted is exactly what the flow runs. JSON is camelCase; Python names are
snake_case and accepted too.
"""

import unicodedata
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

Aspect = Literal["16:9", "9:16", "1:1"]
Subtitles = Literal["sidecar", "burned", "none"]
VoiceEngine = Literal["piper", "espeak"]

MAX_DURATION_SECONDS = 30 * 60
MAX_FRAME_SIDE = 4096
DEFAULT_FRAME = {"16:9": (1920, 1080), "9:16": (1080, 1920), "1:1": (1080, 1080)}
ASPECT_RATIO = {"16:9": 16 / 9, "9:16": 9 / 16, "1:1": 1.0}


class RequestModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        str_strip_whitespace=True,
        frozen=True,
    )


def _refuse_control_characters(value: str | None) -> str | None:
    if value is None:
        return value
    for index, char in enumerate(value):
        if unicodedata.category(char) == "Cc":
            raise ValueError(
                f"contains a control character (U+{ord(char):04X}) at position {index}; use plain text on one line"
            )
    return value


class Brief(RequestModel):
    topic: str = Field(min_length=1, max_length=300, description="What the video is about.")
    audience: str | None = Field(default=None, max_length=200, description="Who will watch it.")
    goal: str | None = Field(default=None, max_length=200, description="What viewers should take away.")
    tone: str | None = Field(default=None, max_length=60, description="For example: friendly, formal.")
    language: str = Field(
        default="en",
        pattern=r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$",
        description="BCP 47-style language tag; also the default voice.",
    )
    aspect: Aspect = Field(default="16:9", description="Frame shape of the video.")

    _no_control = field_validator("topic", "audience", "goal", "tone")(_refuse_control_characters)


class Plan(RequestModel):
    target_duration_seconds: float = Field(
        default=60.0,
        gt=0,
        le=MAX_DURATION_SECONDS,
        description="Length the narration is written for, in seconds (at most 30 minutes).",
    )
    pacing: Literal["slow", "normal", "fast"] = Field(default="normal", description="Pause length between sentences.")
    density: Literal["sparse", "balanced", "dense"] = Field(
        default="balanced", description="One scene per 20, 12 or 8 seconds."
    )
    style: Literal["modern", "minimal", "bold"] = Field(default="modern", description="Colour scheme of the slides.")


class VoiceSpec(RequestModel):
    engine: VoiceEngine | None = Field(
        default=None,
        description="`piper`: neural speech, English, with the bundled voice (or a Piper voice block's). "
        "`espeak`: eSpeak NG, every language, fast. By default Piper speaks English requests that name no "
        "voice, eSpeak NG the rest.",
    )
    name: str | None = Field(
        default=None,
        max_length=60,
        pattern=r"^[A-Za-z0-9_+\-]+$",
        description="eSpeak NG voice, for example `en-us`; defaults to the brief's language. Naming one "
        "chooses eSpeak NG.",
    )
    rate: float = Field(default=1.0, ge=0.5, le=2.0, description="Speed, 1.0 = 175 words a minute.")
    pitch: float = Field(default=1.0, ge=0.5, le=2.0, description="Pitch, 1.0 = the voice's own (eSpeak NG only).")

    @model_validator(mode="after")
    def _piper_takes_no_espeak_name(self) -> "VoiceSpec":
        if self.engine == "piper" and self.name:
            raise ValueError("voice.name picks an eSpeak NG voice; leave it out with engine piper")
        return self


class RenderSpec(RequestModel):
    width: int | None = Field(default=None, ge=16, le=MAX_FRAME_SIDE, description="Even, pixels.")
    height: int | None = Field(default=None, ge=16, le=MAX_FRAME_SIDE, description="Even, pixels.")
    fps: int = Field(default=30, ge=1, le=60, description="Frames per second.")
    subtitles: Subtitles = Field(
        default="sidecar", description="`sidecar` writes video.srt; `burned` also draws them on the frames."
    )
    motion: Literal["none", "subtle"] = Field(
        default="subtle", description="`subtle`: each slide pans slowly across its scene; `none`: stills."
    )
    transition: Literal["cut", "fade"] = Field(
        default="fade", description="Between scenes: a half-second crossfade centred on the cut, or a cut."
    )

    @field_validator("width", "height")
    @classmethod
    def _even(cls, value: int | None) -> int | None:
        # H.264 in yuv420p needs both sides even.
        if value is not None and value % 2:
            raise ValueError(f"must be even for H.264 yuv420p, got {value}")
        return value


class Providers(RequestModel):
    script: str | None = Field(default=None, max_length=120, description="Script block document name.")
    voice: str | None = Field(default=None, max_length=120, description="Voice block document name.")
    visuals: str | None = Field(default=None, max_length=120, description="Visuals block document name.")


WebhookEvent = Literal["job-completed", "job-failed", "job-cancelled", "step-status", "job-status"]
TERMINAL_WEBHOOK_EVENTS: tuple[WebhookEvent, ...] = ("job-completed", "job-failed", "job-cancelled")
# Events that happen while the job runs: a job asking for them is followed from its start.
LIVE_WEBHOOK_EVENTS: frozenset[str] = frozenset({"step-status", "job-status"})


class Webhook(RequestModel):
    url: str = Field(
        max_length=2000,
        pattern=r"^https?://[^\s/?#]+[^\s]*$",
        description="Where each event is POSTed, signed per the Standard Webhooks spec. The host must "
        "resolve to a public address (unless the service allows private ones).",
    )
    events: list[WebhookEvent] = Field(
        default=list(TERMINAL_WEBHOOK_EVENTS),
        min_length=1,
        max_length=5,
        description="The SSE event names to deliver; by default the three that end a job.",
    )

    @property
    def live(self) -> bool:
        return bool(LIVE_WEBHOOK_EVENTS.intersection(self.events))


class VideoRequest(RequestModel):
    """What to make: the create body of `POST /api/jobs` and the flow's parameter."""

    brief: Brief
    plan: Plan = Plan()
    voice: VoiceSpec = VoiceSpec()
    render: RenderSpec = RenderSpec()
    providers: Providers = Providers()
    priority: int = Field(default=5, ge=1, le=10, description="1 runs first, 10 last.")
    webhook: Webhook | None = Field(default=None, description="Tell this URL when the job ends (or at each step).")

    @model_validator(mode="after")
    def _frame_matches_aspect(self) -> "VideoRequest":
        width, height = self.render.width, self.render.height
        if width and height:
            ratio = width / height
            wanted = ASPECT_RATIO[self.brief.aspect]
            if abs(ratio - wanted) / wanted > 0.02:
                raise ValueError(
                    f"render.width x render.height ({width}x{height}) does not match "
                    f"brief.aspect {self.brief.aspect}; give one side, or sides in that ratio"
                )
        self.frame_size()
        return self

    @model_validator(mode="after")
    def _piper_speaks_english(self) -> "VideoRequest":
        if self.voice.engine == "piper" and not self.providers.voice and not is_english(self.brief.language):
            raise ValueError(
                f"voice.engine piper speaks English with its bundled voice, not {self.brief.language!r}; "
                "use engine espeak, or a Piper voice block for that language"
            )
        return self

    def frame_size(self) -> tuple[int, int]:
        """The output size: given sides, the other derived from the aspect."""
        width, height = self.render.width, self.render.height
        ratio = ASPECT_RATIO[self.brief.aspect]
        if width and height:
            return width, height
        if width:
            return width, _even(width / ratio)
        if height:
            return _even(height * ratio), height
        return DEFAULT_FRAME[self.brief.aspect]

    def voice_name(self) -> str:
        return self.voice.name or self.brief.language

    def voice_engine(self, default: VoiceEngine) -> VoiceEngine:
        """The narrator unless a voice block decides: asked for, else `default` for English with no voice named."""
        if self.voice.engine:
            return self.voice.engine
        if self.voice.name is None and is_english(self.brief.language):
            return default
        return "espeak"


def is_english(language: str) -> bool:
    return language == "en" or language.startswith("en-")


def _even(value: float) -> int:
    side = max(16, int(round(value / 2)) * 2)
    if side > MAX_FRAME_SIDE:
        raise ValueError(
            f"render: the side derived from the aspect would be {side} pixels, "
            f"over {MAX_FRAME_SIDE}; give a smaller width or height"
        )
    return side
