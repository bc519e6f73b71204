"""`POST /api/tokens`: a key traded for a read-only token that may go in a URL."""

from datetime import datetime, timezone

from fastapi import APIRouter, Request
from pydantic import Field

from api.auth import Who
from api.models import ApiModel
from flows.settings import settings

router = APIRouter(prefix="/api/tokens", tags=["auth"])


class AccessToken(ApiModel):
    token: str = Field(description="Pass as the `access_token` query parameter of GET requests.")
    expires_at: datetime
    owner: str
    admin: bool


@router.post("", response_model=AccessToken, status_code=201)
async def create_token(request: Request, who: Who) -> AccessToken:
    """A token that reads what the caller's key reads (GET only) until it expires.

    For URLs a browser fetches without headers: EventSource streams, `<video>` sources, download links.
    """
    token, expires = request.app.state.keys.issue(who, settings.access_token_seconds)
    return AccessToken(token=token, expires_at=datetime.fromtimestamp(expires, timezone.utc), owner=who.owner,
                       admin=who.admin)
