"""The RFC 7807 problem body every error answer carries, as the OpenAPI document shows it."""

from pydantic import BaseModel, ConfigDict, Field

MEDIA_TYPE = "application/problem+json"


class FieldError(BaseModel):
    field: str = Field(description="The field, dotted (`brief.topic`), or `body` for the body as a whole.")
    message: str


class ProblemDetails(BaseModel):
    """An error answer (`application/problem+json`)."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    type: str = Field(description="A URI naming the kind of problem; ends with the code.")
    title: str
    status: int
    detail: str
    instance: str = Field(description="The path of the request.")
    correlation_id: str = Field(alias="correlationId", description="Names this request in the service's logs.")
    code: str = Field(description="The service's error code, e.g. E404-NOT_FOUND (README, Errors).")
    suggested_actions: list[str] | None = Field(default=None, alias="suggestedActions")
    errors: list[FieldError] | None = Field(default=None, description="The invalid fields, on a 422.")


def problem_responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI `responses` declaring each status as a problem under `application/problem+json`."""
    return {
        status: {
            "model": ProblemDetails,
            "content": {MEDIA_TYPE: {}},
            "description": DESCRIPTIONS.get(status, "An error (problem+json)."),
        }
        for status in statuses
    }


DESCRIPTIONS = {
    400: "The request could not be read (problem+json).",
    401: "No API key or token, or not a valid one (problem+json, WWW-Authenticate).",
    403: "The route is for admin keys (problem+json).",
    404: "No such job, or not the caller's (problem+json).",
    409: "Not possible in the job's state (problem+json; Retry-After while a retry backoff runs).",
    413: "The request body is over the limit (problem+json).",
    422: "The request is invalid; `errors` names each field (problem+json).",
    429: "Too many queued jobs (problem+json, Retry-After).",
    503: "Prefect is unavailable or the service is not set up (problem+json, Retry-After).",
}
