"""The webhook part of the REST contract: each delivery attempt, and a new signing secret."""

from datetime import datetime
from typing import Literal

from pydantic import Field

from api.schemas.base import ApiModel

Outcome = Literal["delivered", "failed", "refused", "gave-up"]


class WebhookAttempt(ApiModel):
    """One try to deliver one event of a job to its webhook."""

    event: str = Field(description="The event name, as on the SSE stream (`job-completed`, `step-status`, …).")
    event_id: str = Field(description="The event's id on the job's SSE stream.")
    webhook_id: str = Field(description="The `webhook-id` header: the same for every try of one event.")
    job_attempt: int = Field(description="The attempt of the job the event belongs to.")
    try_number: int = Field(ge=1, description="1 for the first try of this event, 2 for the first retry, …")
    at: datetime = Field(description="When the request was sent.")
    url: str
    outcome: Outcome = Field(
        description="`delivered`: a 2xx answer. `failed`: no 2xx (or no answer); tried again at `nextTryAt`. "
        "`refused`: the host resolved to an address not allowed, so nothing was sent; tried again too. "
        "`gave-up`: failed, and the event was first tried over 24 h ago: no more tries."
    )
    status_code: int | None = Field(description="The receiver's HTTP status; none if it did not answer.")
    latency_ms: float | None = Field(description="From sending the request to its answer's status line.")
    error: str | None = Field(default=None, description="Why there was no answer, if there was none.")
    response_body: str = Field(default="", description="The start of the receiver's answer (at most 1 KB).")
    next_try_at: datetime | None = Field(default=None, description="When the event is tried again, if it is.")


class WebhookAttempts(ApiModel):
    job_id: str
    attempts: list[WebhookAttempt] = Field(description="Every try of every delivery, oldest first.")


class WebhookSecret(ApiModel):
    """The caller's new signing secret. It is shown only here: keep it; a new one replaces it."""

    secret: str = Field(description="Standard Webhooks secret (`whsec_` and base64), for the receiver's verifier.")
    owner: str
