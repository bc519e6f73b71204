"""RFC 7807 problem responses: the one place where errors become HTTP answers.

Every error answer is `application/problem+json` with `type, title, status,
detail, instance, correlationId, code`, and `suggestedActions` where a user can
act. Bad input is always a 4xx; a Prefect server that does not answer is a 503;
only a bug in this service is a 500.

The job model raises its own errors (`api.jobs.errors`) and the pipeline's request
check raises `InvalidRequest`; the status each gets is decided here, and only here.
Errors found at the HTTP edge itself (keys, body size) raise `Problem`; a `Range` a file cannot
serve raises Starlette's own range errors, answered here like the rest.
"""

import logging
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prefect.exceptions import PrefectHTTPStatusError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import MalformedRangeHeader, RangeNotSatisfiable

from api.jobs.errors import JobConflict, JobError, JobNotFound, KeyReused, NotDeployed, OutputNotFound, QueueFull
from api.middleware.correlation import HEADER, correlation_id
from api.prefect_client import PrefectBusy
from api.schemas.problem import MEDIA_TYPE
from flows.contract.errors import InvalidRequest

log = logging.getLogger(__name__)
PROBLEM_TYPE = "https://aura.dev/problems/"
STATUS_OF_ERROR: dict[type[JobError], int] = {
    JobNotFound: 404,
    OutputNotFound: 404,
    JobConflict: 409,
    KeyReused: 422,
    QueueFull: 429,
    NotDeployed: 503,
}


class Problem(Exception):
    """An error answer found at the HTTP edge (a key, a body size); the job model raises `JobError`s."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str,
        *,
        suggested_actions: list[str] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.title, self.detail = status, code, title, detail
        self.suggested_actions = suggested_actions
        self.headers = headers or {}
        self.extra = extra or {}


def problem_response(request: Request, problem: Problem) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + problem.code,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
        "instance": request.url.path,
        "correlationId": correlation_id(request),
        "code": problem.code,
    }
    if problem.suggested_actions:
        body["suggestedActions"] = problem.suggested_actions
    body |= problem.extra
    return JSONResponse(body, status_code=problem.status, headers=problem.headers, media_type=MEDIA_TYPE)


def _job_error(request: Request, exc: JobError) -> JSONResponse:
    status = next((status for kind, status in STATUS_OF_ERROR.items() if isinstance(exc, kind)), 500)
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    return problem_response(
        request,
        Problem(
            status,
            exc.code,
            exc.title,
            exc.message,
            headers=headers,
            suggested_actions=list(exc.suggested_actions) or None,
        ),
    )


def _invalid_request(request: Request, exc: InvalidRequest) -> JSONResponse:
    return problem_response(
        request, Problem(422, exc.code, "Invalid request", exc.message, suggested_actions=list(exc.suggested_actions))
    )


def _field(error: dict[str, Any]) -> str:
    if error["type"] == "json_invalid":
        return "body"
    return ".".join(str(part) for part in error["loc"] if part != "body") or "body"


def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [{"field": _field(error), "message": error["msg"]} for error in exc.errors()]
    detail = "; ".join(f"{error['field'] or 'body'}: {error['message']}" for error in errors)
    return problem_response(
        request,
        Problem(
            422,
            "E400-VALIDATION",
            "Invalid request",
            detail,
            suggested_actions=["Correct the fields listed in `errors` and send the request again."],
            extra={"errors": errors},
        ),
    )


def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = {404: "E404-NOT_FOUND", 405: "E405-METHOD_NOT_ALLOWED", 413: "E413-TOO_LARGE"}.get(
        exc.status_code, f"E{exc.status_code}-HTTP"
    )
    return problem_response(
        request, Problem(exc.status_code, code, str(exc.detail), str(exc.detail), headers=dict(exc.headers or {}))
    )


def _malformed_range(request: Request, exc: MalformedRangeHeader) -> JSONResponse:
    return problem_response(
        request,
        Problem(
            400,
            "E400-BAD_RANGE",
            "Malformed Range",
            f"the Range header cannot be read: {exc.content}",
            suggested_actions=["Send `Range: bytes=<first>-<last>`, or no Range for the whole file."],
        ),
    )


def _range_not_satisfiable(request: Request, exc: RangeNotSatisfiable) -> JSONResponse:
    return problem_response(
        request,
        Problem(
            416,
            "E416-RANGE_NOT_SATISFIABLE",
            "Range not satisfiable",
            f"the file has {exc.max_size} bytes; the Range starts past its end",
            headers={"Content-Range": f"bytes */{exc.max_size}"},
        ),
    )


def _prefect_down(request: Request, exc: Exception) -> JSONResponse:
    log.warning("Prefect did not answer: %s", exc)
    return problem_response(
        request,
        Problem(
            503,
            "E503-PREFECT_UNAVAILABLE",
            "Prefect is unavailable",
            "the Prefect server did not answer; the request was not carried out",
            suggested_actions=["Retry in a few seconds."],
            headers={"Retry-After": "5"},
        ),
    )


def _prefect_busy(request: Request, exc: PrefectBusy) -> JSONResponse:
    log.warning("%s", exc)
    return problem_response(
        request,
        Problem(
            503,
            "E503-PREFECT_BUSY",
            "Prefect is busy",
            str(exc),
            suggested_actions=[exc.suggestion],
            headers={"Retry-After": "5"},
        ),
    )


def _prefect_status(request: Request, exc: PrefectHTTPStatusError) -> JSONResponse:
    if exc.response.status_code >= 500:
        return _prefect_down(request, exc)
    raise exc


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Starlette calls this handler outside the `except` that caught `exc`: pass it, or the log has no traceback.
    log.error("unhandled error [correlation %s]", correlation_id(request), exc_info=exc)
    return problem_response(
        request,
        Problem(
            500,
            "E500-INTERNAL",
            "Internal error",
            "the service failed; the correlation id identifies its log",
            # Answered from outside the correlation middleware, which would otherwise add it.
            headers={HEADER: correlation_id(request)},
        ),
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(Problem, lambda request, exc: problem_response(request, exc))
    app.add_exception_handler(JobError, _job_error)  # type: ignore[arg-type]
    app.add_exception_handler(InvalidRequest, _invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(MalformedRangeHeader, _malformed_range)  # type: ignore[arg-type]
    app.add_exception_handler(RangeNotSatisfiable, _range_not_satisfiable)  # type: ignore[arg-type]
    app.add_exception_handler(httpx.TransportError, _prefect_down)
    app.add_exception_handler(PrefectBusy, _prefect_busy)  # type: ignore[arg-type]
    app.add_exception_handler(PrefectHTTPStatusError, _prefect_status)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
