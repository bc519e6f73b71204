from typing import cast

from prefect.blocks.core import Block
from prefect.exceptions import ObjectNotFound
from pydantic import BaseModel, ConfigDict

from blocks import PROVIDER_BLOCKS, ChatScriptWriter, EspeakVoice, RuleScriptWriter, SlideVisuals
from flows.contract.errors import ProviderNotFound
from flows.contract.request import VideoRequest
from flows.providers import espeak
from flows.providers.script import ChatEndpoint
from flows.runtime.reporting import stage_report
from flows.stages import stage_task


class Choices(BaseModel):
    """The providers and settings a job runs with, resolved from its request and its blocks."""

    model_config = ConfigDict(frozen=True)

    script_writer: str
    chat: ChatEndpoint | None
    voice: str
    style: str


@stage_task("brief")
def check_brief(request: VideoRequest) -> Choices:
    """Validate the request against what this machine has, and load the named providers."""
    with stage_report("brief") as report:
        names = request.providers
        script_writer = load_provider("script", names.script) if names.script else RuleScriptWriter()
        # PROVIDER_BLOCKS holds one Block type each for voice and visuals.
        voice_block = cast(EspeakVoice, load_provider("voice", names.voice)) if names.voice else EspeakVoice()
        visuals = cast(SlideVisuals, load_provider("visuals", names.visuals)) if names.visuals else SlideVisuals()
        voice = request.voice.name or (voice_block.voice if names.voice else request.brief.language)
        espeak.check_voice(voice)
        report.progress(1, 1, f"voice {voice}, script by {type(script_writer).__name__}")
        return Choices(
            script_writer=script_writer.get_block_type_slug(),
            chat=chat_endpoint(script_writer),
            voice=voice,
            style=visuals.style or request.plan.style,
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
