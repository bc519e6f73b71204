from pathlib import Path
from typing import cast

from prefect.blocks.core import Block
from prefect.exceptions import ObjectNotFound
from pydantic import BaseModel, ConfigDict

from blocks import PROVIDER_BLOCKS, ChatScriptWriter, EspeakVoice, PiperVoice, RuleScriptWriter, SlideVisuals
from flows.contract.errors import ProviderNotFound
from flows.contract.request import VideoRequest, VoiceEngine
from flows.providers import espeak
from flows.providers.piper import Tuning
from flows.providers.script import ChatEndpoint
from flows.runtime.reporting import stage_report
from flows.settings import settings
from flows.stages import stage_task


class Choices(BaseModel):
    """The providers and settings a job runs with, resolved from its request and its blocks."""

    model_config = ConfigDict(frozen=True)

    script_writer: str
    chat: ChatEndpoint | None
    engine: VoiceEngine
    # The eSpeak NG voice: the narrator's, or the one Piper falls back to.
    voice: str
    piper: Tuning
    style: str


@stage_task("brief")
def check_brief(request: VideoRequest) -> Choices:
    """Validate the request against what this machine has, and load the named providers."""
    with stage_report("brief") as report:
        names = request.providers
        script_writer = load_provider("script", names.script) if names.script else RuleScriptWriter()
        voice_block = load_provider("voice", names.voice) if names.voice else None
        # PROVIDER_BLOCKS holds one Block type for visuals.
        visuals = cast(SlideVisuals, load_provider("visuals", names.visuals)) if names.visuals else SlideVisuals()
        engine = request.voice_engine(settings.voice_engine)
        if voice_block is not None:
            engine = "piper" if isinstance(voice_block, PiperVoice) else "espeak"
        voice = request.voice.name or (
            voice_block.voice if isinstance(voice_block, EspeakVoice) else request.brief.language
        )
        espeak.check_voice(voice)
        piper = piper_tuning(voice_block) if isinstance(voice_block, PiperVoice) else Tuning()
        narrator = piper.name() if engine == "piper" else voice
        report.progress(1, 1, f"voice {narrator} ({engine}), script by {type(script_writer).__name__}")
        return Choices(
            script_writer=script_writer.get_block_type_slug(),
            chat=chat_endpoint(script_writer),
            engine=engine,
            voice=voice,
            piper=piper,
            style=visuals.style or request.plan.style,
        )


def piper_tuning(block: PiperVoice) -> Tuning:
    return Tuning(
        model_path=Path(block.model_path) if block.model_path else None,
        config_path=Path(block.config_path) if block.config_path else None,
        speaker=block.speaker,
        length_scale=block.length_scale,
        noise_scale=block.noise_scale,
        noise_w_scale=block.noise_w_scale,
    )


def chat_endpoint(block: Block) -> ChatEndpoint | None:
    """The chat endpoint a script block names; None for the offline writer."""
    if not isinstance(block, ChatScriptWriter):
        return None
    return ChatEndpoint(
        base_url=block.base_url, model=block.model, api_key=block.api_key, timeout_seconds=block.timeout_seconds
    )


def load_provider(kind: str, name: str) -> Block:
    """Load the block document `name` (or `type-slug/name`) of one of the kind's block types."""
    for block_type in PROVIDER_BLOCKS[kind]:
        slug = block_type.get_block_type_slug()
        document = name.removeprefix(f"{slug}/")
        if "/" in document:
            continue
        try:
            # Typed block-or-coroutine (Prefect's async_dispatch); called from this sync task it returns the block.
            return block_type.load(document)  # type: ignore[return-value]
        except (ValueError, ObjectNotFound):
            continue
    kinds = ", ".join(block_type.get_block_type_slug() for block_type in PROVIDER_BLOCKS[kind])
    raise ProviderNotFound(f"providers.{kind}: no block document {name!r} of type {kinds}")
