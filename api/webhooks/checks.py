"""What a job's webhook must satisfy before the job is queued: an address it may reach, and a secret to sign with."""

import asyncio

from prefect.client.orchestration import PrefectClient

from api.settings import settings
from api.webhooks.address import AddressRefused, resolve
from api.webhooks.secrets import read_secret
from flows.contract.errors import InvalidRequest
from flows.contract.request import VideoRequest


class NoSigningSecret(InvalidRequest):
    code = "E422-NO_WEBHOOK_SECRET"
    suggested_actions = (
        "Make your signing secret with POST /api/webhooks/secret, keep it for your receiver, then submit again.",
    )


async def check_webhook(client: PrefectClient, request: VideoRequest, owner: str) -> None:
    """`InvalidRequest` naming `webhook.url` for an address not allowed; `NoSigningSecret` if the owner has none."""
    if request.webhook is None:
        return
    try:
        await asyncio.to_thread(resolve, request.webhook.url, allow_private=settings.webhook_allow_private)
    except AddressRefused as exc:
        raise InvalidRequest(f"webhook.url: {exc}") from exc
    if await read_secret(client, owner) is None:
        raise NoSigningSecret("webhook: deliveries are signed with your signing secret, and you have none yet")
