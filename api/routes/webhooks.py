"""`POST /api/webhooks/secret`: the caller's webhook signing secret, made new."""

from fastapi import APIRouter

from api.dependencies import Service, Who
from api.schemas.problem import problem_responses
from api.schemas.webhooks import WebhookSecret

router = APIRouter(prefix="/api/webhooks", tags=["webhooks"])


@router.post("/secret", response_model=WebhookSecret, status_code=201, responses=problem_responses(401, 413, 503))
async def rotate_webhook_secret(service: Service, who: Who) -> WebhookSecret:
    """A new signing secret for the caller's webhooks, shown this once; it replaces any earlier one.

    Every delivery sent from now on, retries of earlier events included, is signed with it
    (Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`).
    """
    return await service.rotate_webhook_secret(who)
