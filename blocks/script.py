"""Script writers: the offline rule-based writer, or an OpenAI-compatible chat endpoint."""

from prefect.blocks.core import Block
from pydantic import Field, SecretStr


class RuleScriptWriter(Block):
    """The offline script writer: templates, no network, the same script for the same brief."""

    _block_type_name = "Aura Rule Script Writer"
    _description = "Writes scenes and narration from templates. Needs no key and no network."


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
