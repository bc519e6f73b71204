"""Prefect Block types that configure the providers.

Register them with `prefect block register -m blocks`, save a document in
the Prefect UI or in code (`ChatScriptWriter(...).save("my-llm")`), and name it
in a job's `providers`. A job that names no provider uses the offline defaults,
which need no block at all.
"""

from typing import Literal

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

from flows.models import Script
from flows.request import VideoRequest


class RuleScriptWriter(Block):
    """The offline script writer: templates, no network, the same script for the same brief."""

    _block_type_name = "Aura Rule Script Writer"
    _description = "Writes scenes and narration from templates. Needs no key and no network."

    def write_script(self, request: VideoRequest) -> Script:
        from flows.providers import script_rules

        return script_rules.write_script(request)


class ChatScriptWriter(Block):
    """Scripts from an OpenAI-compatible chat endpoint, with the offline writer as fallback."""

    _block_type_name = "Aura Chat Script Writer"
    _description = "OpenAI, Ollama or vLLM through the chat-completions API."

    base_url: str = Field(
        default="http://127.0.0.1:11434/v1",
        description="Base URL of the OpenAI-compatible API, up to and including /v1.",
    )
    model: str = Field(default="llama3.1", description="Model name sent with each request.")
    api_key: SecretStr | None = Field(default=None, description="Bearer key; none for local servers.")
    timeout_seconds: float = Field(default=60.0, gt=0, le=600, description="Timeout of one request.")

    def write_script(self, request: VideoRequest) -> Script:
        from flows.providers import script_chat

        return script_chat.write_script(
            request,
            base_url=self.base_url,
            model=self.model,
            api_key=self.api_key.get_secret_value() if self.api_key else None,
            timeout=self.timeout_seconds,
        )


class EspeakVoice(Block):
    """eSpeak NG narration; the request's voice settings win over these defaults."""

    _block_type_name = "Aura eSpeak Voice"
    _description = "Offline speech from eSpeak NG, shipped in the espeakng-loader wheel."

    voice: str = Field(default="en", description="Voice used when the request names none, e.g. en-us.")


class SlideVisuals(Block):
    """One slide per scene drawn with Pillow."""

    _block_type_name = "Aura Slide Visuals"
    _description = "Title and key points of each scene on a gradient background."

    style: Literal["modern", "minimal", "bold"] | None = Field(
        default=None, description="Colour scheme for every job using this block; none keeps the request's."
    )


PROVIDER_BLOCKS: dict[str, tuple[type[Block], ...]] = {
    "script": (ChatScriptWriter, RuleScriptWriter),
    "voice": (EspeakVoice,),
    "visuals": (SlideVisuals,),
}
