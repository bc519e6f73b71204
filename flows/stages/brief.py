from prefect.blocks.core import Block
from prefect.exceptions import ObjectNotFound
from pydantic import BaseModel, ConfigDict

from blocks import PROVIDER_BLOCKS, ChatScriptWriter, EspeakVoice, RuleScriptWriter, SlideVisuals
from flows.errors import ProviderNotFound
from flows.providers import espeak
from flows.reporting import stage_report
from flows.request import VideoRequest
from flows.stages import stage_task


class Choices(BaseModel):
    """The providers and settings a job runs with, resolved from its request."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    script_writer: ChatScriptWriter | RuleScriptWriter
    voice: str
    style: str


@stage_task("brief")
def check_brief(request: VideoRequest) -> Choices:
    """Validate the request against what this machine has, and load the named providers."""
    with stage_report("brief") as report:
        names = request.providers
        script_writer = load_provider("script", names.script) if names.script else RuleScriptWriter()
        voice_block = load_provider("voice", names.voice) if names.voice else EspeakVoice()
        visuals = load_provider("visuals", names.visuals) if names.visuals else SlideVisuals()
        voice = request.voice.name or (voice_block.voice if names.voice else request.brief.language)
        espeak.check_voice(voice)
        report.progress(1, 1, f"voice {voice}, script by {type(script_writer).__name__}")
        return Choices(script_writer=script_writer, voice=voice, style=visuals.style or request.plan.style)


def load_provider(kind: str, name: str) -> Block:
    """Load the block document `name` (or `type-slug/name`) of one of the kind's block types."""
    for block_type in PROVIDER_BLOCKS[kind]:
        slug = block_type.get_block_type_slug()
        document = name.removeprefix(f"{slug}/")
        if "/" in document:
            continue
        try:
            return block_type.load(document)
        except (ValueError, ObjectNotFound):
            continue
    kinds = ", ".join(block_type.get_block_type_slug() for block_type in PROVIDER_BLOCKS[kind])
    raise ProviderNotFound(f"providers.{kind}: no block document {name!r} of type {kinds}")
