"""The body of `POST /api/tokens`."""

from datetime import datetime

from pydantic import Field

from api.schemas.base import ApiModel


class AccessToken(ApiModel):
    token: str = Field(description="Pass as the `access_token` query parameter of GET requests.")
    expires_at: datetime
    owner: str
    admin: bool
