"""The RFC 7807 problem body every error answer carries, as the OpenAPI document shows it.

Routes declare their error statuses with `problem_responses(...)`; `document_problems` then
finishes FastAPI's document: the problem schema goes into the components, and FastAPI's own
guess of a 422 (`HTTPValidationError` as `application/json`, a body this service never sends)
goes away. Every error of every route is then `application/problem+json` and nothing else.
"""

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import JsonSchemaMode, models_json_schema

MEDIA_TYPE = "application/problem+json"
COMPONENTS = "#/components/schemas/"


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


DESCRIPTIONS = {
    400: "The request could not be read: a body that is not UTF-8 JSON, or a malformed `Range` (problem+json).",
    401: "No API key or token, or not a valid one (problem+json, WWW-Authenticate).",
    403: "The route is for admin keys (problem+json).",
    404: "No such job or file, or not the caller's (problem+json).",
    409: "Not possible in the job's state (problem+json; Retry-After while a retry backoff runs).",
    413: "The request body is over the limit (problem+json).",
    416: "The `Range` asks for bytes the file does not have (problem+json, Content-Range).",
    422: "The request is invalid; `errors` names each field (problem+json).",
    429: "Too many queued jobs (problem+json, Retry-After).",
    503: "Prefect is unavailable, too busy to carry out a write in time, or the service is not set up "
    "(problem+json; Retry-After when Prefect is away or busy).",
}


def _header(description: str, *, required: bool = False, integer: bool = False) -> dict[str, Any]:
    return {"description": description, "required": required, "schema": {"type": "integer" if integer else "string"}}


HEADERS: dict[int, dict[str, dict[str, Any]]] = {
    401: {"WWW-Authenticate": _header('`Bearer realm="aura"`.', required=True)},
    409: {"Retry-After": _header("Seconds until a retry may start, while a backoff runs.", integer=True)},
    416: {"Content-Range": _header("`bytes */<size of the file>`.", required=True)},
    429: {"Retry-After": _header("Seconds to wait before submitting again.", required=True, integer=True)},
    503: {"Retry-After": _header("Seconds to wait, when Prefect did not answer.", integer=True)},
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` declaring each status as a problem, under `application/problem+json` only."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in sorted(statuses):
        response: dict[str, Any] = {
            "description": DESCRIPTIONS.get(status, "An error (problem+json)."),
            "content": {MEDIA_TYPE: {"schema": {"$ref": COMPONENTS + ProblemDetails.__name__}}},
        }
        if status in HEADERS:
            response["headers"] = HEADERS[status]
        responses[status] = response
    return responses


def add_components(document: dict[str, Any], *models: type[BaseModel], mode: JsonSchemaMode = "serialization") -> None:
    """Put the models' JSON schemas (as answers show them, or requests with `mode="validation"`), and those
    they refer to, into the components.

    For models a route names only inside its own `responses` or request body, which FastAPI does not
    collect. A schema FastAPI already put there is kept as it is.
    """
    _, generated = models_json_schema([(model, mode) for model in models], ref_template=COMPONENTS + "{model}")
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in generated.get("$defs", {}).items():
        schemas.setdefault(name, schema)


def _fastapi_validation_error(response: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref") == COMPONENTS + "HTTPValidationError")


def document_problems(document: dict[str, Any]) -> dict[str, Any]:
    """Finish FastAPI's document: the problem schema in the components, FastAPI's own 422 guess removed.

    FastAPI adds a 422 to every route with parameters that declares none; the routes here declare
    a 422 exactly where validation can fail, so the guess is only ever wrong.
    """
    add_components(document, ProblemDetails)
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.get("responses", {})
            if _fastapi_validation_error(responses.get("422", {})):
                del responses["422"]
    schemas = document["components"]["schemas"]
    for name in ("HTTPValidationError", "ValidationError"):  # the second is only used by the first
        if name in schemas and f'"{COMPONENTS}{name}"' not in json.dumps(document):
            del schemas[name]
    return document
