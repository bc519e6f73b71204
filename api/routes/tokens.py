"""`POST /api/tokens`: a key traded for a read-only token that may go in a URL."""

from datetime import UTC, datetime

from fastapi import APIRouter

from api.dependencies import Keys, Who
from api.schemas.problem import problem_responses
from api.schemas.tokens import AccessToken
from api.settings import settings

router = APIRouter(prefix="/api/tokens", tags=["auth"])


@router.post("", response_model=AccessToken, status_code=201, responses=problem_responses(401, 413))
async def create_token(keys: Keys, who: Who) -> AccessToken:
    """A token that reads what the caller's key reads (GET only) until it expires.

    For URLs a browser fetches without headers: EventSource streams, `<video>` sources, download links.
    """
    token, expires = keys.issue(who, settings.access_token_seconds)
    return AccessToken(token=token, expires_at=datetime.fromtimestamp(expires, UTC), owner=who.owner, admin=who.admin)
