"""What a route may ask for: the process's job service, the caller, the correlation id.

The caller comes from an API key (`Authorization: Bearer` or `X-API-Key`) or, for
GET requests from a browser, a read-only token in `access_token` (`api.keys`).
"""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer

from api.keys import LOCAL, Caller, KeyRing
from api.middleware.correlation import correlation_id
from api.problems import Problem
from api.service import JobService

READ_METHODS = frozenset({"GET", "HEAD"})

bearer = HTTPBearer(auto_error=False, description="An API key, when the service has keys configured.")
key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key, the other way to send it.")
token_query = APIKeyQuery(
    name="access_token", auto_error=False, description="A read-only token from `POST /api/tokens`, for URLs (GET only)."
)


def service(request: Request) -> JobService:
    """The process's job service, started by the app's lifespan."""
    job_service: JobService = request.app.state.service
    return job_service


def key_ring(request: Request) -> KeyRing:
    ring: KeyRing = request.app.state.keys
    return ring


def correlation(request: Request) -> str:
    return correlation_id(request)


def unauthorized(detail: str) -> Problem:
    return Problem(
        401,
        "E401-UNAUTHORIZED",
        "Authentication required",
        detail,
        headers={"WWW-Authenticate": 'Bearer realm="aura"'},
        suggested_actions=[
            "Send `Authorization: Bearer <API key>`; in a URL, use a token from POST /api/tokens as `access_token`."
        ],
    )


def caller(
    request: Request,
    ring: Annotated[KeyRing, Depends(key_ring)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    header_key: Annotated[str | None, Depends(key_header)],
    token: Annotated[str | None, Depends(token_query)],
) -> Caller:
    if not ring.enabled:
        return LOCAL
    presented = credentials.credentials if credentials else header_key
    if presented:
        found = ring.find(presented)
        if found is None:
            raise unauthorized("the API key is not one of this service's keys")
        return found
    if token:
        if request.method not in READ_METHODS:
            raise unauthorized("an access token only reads; send the API key to change anything")
        found = ring.read(token)
        if found is None:
            raise unauthorized("the access token is not valid or has expired; get a new one from POST /api/tokens")
        return found
    raise unauthorized("this service needs an API key")


def admin(who: Annotated[Caller, Depends(caller)]) -> Caller:
    if not who.admin:
        raise Problem(
            403,
            "E403-ADMIN_ONLY",
            "Admins only",
            "this route is for an admin key",
            suggested_actions=["Ask the service's operator, or use an admin key."],
        )
    return who


Service = Annotated[JobService, Depends(service)]
Keys = Annotated[KeyRing, Depends(key_ring)]
Correlation = Annotated[str, Depends(correlation)]
Who = Annotated[Caller, Depends(caller)]
Admin = Annotated[Caller, Depends(admin)]
