"""A job's script: from the chat endpoint its script block names, else from the offline rules."""

from pydantic import BaseModel, ConfigDict, SecretStr

from flows.contract.request import VideoRequest
from flows.models import Script
from flows.providers import script_chat, script_rules


class ChatEndpoint(BaseModel):
    """An OpenAI-compatible chat endpoint, as a `ChatScriptWriter` block describes it."""

    model_config = ConfigDict(frozen=True)

    base_url: str
    model: str
    api_key: SecretStr | None
    timeout_seconds: float


def write_script(request: VideoRequest, chat: ChatEndpoint | None) -> Script:
    """Write the scenes with the chat endpoint when there is one (`script_chat.Unreachable` if it
    does not answer), with the offline rules otherwise."""
    if chat is None:
        return script_rules.write_script(request)
    return script_chat.write_script(
        request,
        base_url=chat.base_url,
        model=chat.model,
        api_key=chat.api_key.get_secret_value() if chat.api_key else None,
        timeout=chat.timeout_seconds,
    )
