"""Each owner's webhook signing secret: a Prefect Secret block, shown once when made, replaced on rotation.

Every delivery of an owner's jobs is signed with the secret the block holds when it is sent, so a
rotation applies from the next delivery on, retries of earlier events included.
"""

import base64
import hashlib
import secrets

from prefect.blocks.system import Secret
from prefect.client.orchestration import PrefectClient
from prefect.exceptions import ObjectNotFound
from pydantic import SecretStr

# Standard Webhooks secrets: "whsec_" and base64 of 24 to 64 random bytes.
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def block_name(owner: str) -> str:
    """Block names allow lower-case letters, digits and dashes; owners may hold dots and underscores."""
    return "aura-webhook-secret-" + hashlib.sha256(owner.encode()).hexdigest()[:24]


async def rotate_secret(client: PrefectClient, owner: str) -> str:
    """A new signing secret for `owner`, replacing the old one; the only time it is shown."""
    secret = SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()
    await Secret(value=SecretStr(secret)).asave(block_name(owner), overwrite=True, client=client)
    return secret


async def read_secret(client: PrefectClient, owner: str) -> str | None:
    """The owner's secret, or None if they never made one."""
    try:
        block: Secret[str] = await Secret.aload(block_name(owner), client=client)
    except (ValueError, ObjectNotFound):
        return None
    value: str = block.get()
    return value
