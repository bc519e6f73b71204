"""What the stages hand each other: small pydantic models Prefect can hash and persist."""

from pathlib import Path

from pydantic import BaseModel, ConfigDict


class StageModel(BaseModel):
    model_config = ConfigDict(frozen=True)


class Scene(StageModel):
    title: str
    narration: list[str]
    on_screen: list[str]


class Script(StageModel):
    title: str
    scenes: list[Scene]
    provider: str

    def sentences(self) -> list[str]:
        return [sentence for scene in self.scenes for sentence in scene.narration]


class Cue(StageModel):
    """One narrated sentence and where it sits on the timeline, in seconds."""

    start: float
    end: float
    text: str


class SceneTiming(StageModel):
    start: float
    end: float
    cues: list[Cue]


class Narration(StageModel):
    audio: Path
    sample_rate: int
    seconds: float
    scenes: list[SceneTiming]
    voice: str
    engine: str

    def cues(self) -> list[Cue]:
        return [cue for scene in self.scenes for cue in scene.cues]


class Slides(StageModel):
    """One image per scene: the frame (`width` × `height`) in the middle of room to pan over."""

    images: list[Path]
    width: int
    height: int
    spare_width: int
    spare_height: int

    def frame_box(self) -> tuple[int, int, int, int]:
        """Where the frame-size layout sits in each image."""
        left, top = self.spare_width // 2, self.spare_height // 2
        return left, top, left + self.width, top + self.height


class Rendered(StageModel):
    """The render stage's files, in its results folder (`results/<jobId>/render/`)."""

    video: Path
    subtitles: Path | None
    thumbnail: Path
    log: Path
    seconds: float


class Published(StageModel):
    """Where a finished job's files are: `jobs/<jobId>/`."""

    folder: Path
    files: dict[str, int]
