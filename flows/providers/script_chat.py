"""Scripts from an OpenAI-compatible chat endpoint (OpenAI, Ollama, vLLM).

The reply must be a JSON object of scenes; it is validated like any other
input. What the failure means decides what happens next:
- the server cannot be reached (refused, DNS, timeout): `Unreachable`, and the
  stage falls back to the offline writer with a warning;
- 429 or 5xx, or a reply that is not a valid script: `ProviderUnavailable`,
  retried by the stage's retry policy;
- any other 4xx (bad key, unknown model): `ProviderRejected`, not retried.
"""

import json

import httpx
from pydantic import BaseModel, Field, ValidationError

from flows.contract.errors import ProviderRejected, ProviderUnavailable
from flows.contract.request import VideoRequest
from flows.models import Scene, Script
from flows.providers.script_rules import MAX_SCENES, MIN_SCENES, scene_count


class Unreachable(Exception):
    """The chat endpoint did not answer at all."""


class _ReplyScene(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    narration: list[str] = Field(min_length=1, max_length=60)
    on_screen: list[str] = Field(default_factory=list, max_length=6, alias="onScreen")


class _Reply(BaseModel):
    title: str = Field(min_length=1, max_length=300)
    scenes: list[_ReplyScene] = Field(min_length=MIN_SCENES, max_length=MAX_SCENES)


def _prompt(request: VideoRequest) -> str:
    brief = request.brief
    return (
        f"Write a narrated explainer video script about: {brief.topic}\n"
        f"Audience: {brief.audience or 'general'}. Goal: {brief.goal or 'inform'}. "
        f"Tone: {brief.tone or 'neutral'}. Language: {brief.language}.\n"
        f"Exactly {scene_count(request)} scenes, about "
        f"{round(request.plan.target_duration_seconds * 2.6)} spoken words in all; "
        "the first scene introduces the topic and the last one closes it.\n"
        'Answer with JSON only: {"title": str, "scenes": [{"title": str, '
        '"narration": [sentence, ...], "onScreen": [short line, ...]}]}'
    )


def write_script(request: VideoRequest, *, base_url: str, model: str, api_key: str | None, timeout: float) -> Script:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    body = {
        "model": model,
        "messages": [
            {"role": "system", "content": "You write scripts for short narrated videos."},
            {"role": "user", "content": _prompt(request)},
        ],
        "response_format": {"type": "json_object"},
    }
    url = base_url.rstrip("/") + "/chat/completions"
    try:
        response = httpx.post(url, json=body, headers=headers, timeout=timeout)
    except (httpx.ConnectError, httpx.TimeoutException) as exc:
        raise Unreachable(f"{url}: {exc}") from exc
    if response.status_code == 429 or response.status_code >= 500:
        raise ProviderUnavailable(f"script: {url} answered {response.status_code}; will retry")
    if response.status_code >= 400:
        raise ProviderRejected(f"script: {url} refused the request ({response.status_code}): {response.text[:200]}")
    try:
        content = response.json()["choices"][0]["message"]["content"]
        reply = _Reply.model_validate(json.loads(content))
    except (KeyError, IndexError, TypeError, ValueError, ValidationError) as exc:
        raise ProviderUnavailable(f"script: the model's reply is not a valid script: {exc}") from exc
    scenes = [
        Scene(title=scene.title, narration=scene.narration, on_screen=scene.on_screen or [scene.title])
        for scene in reply.scenes
    ]
    return Script(title=reply.title, scenes=scenes, provider=f"chat:{model}")
