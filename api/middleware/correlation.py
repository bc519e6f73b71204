"""Correlation ids: honoured from `X-Correlation-ID`, made when absent, echoed on every answer."""

import re
import uuid
from contextvars import ContextVar

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "X-Correlation-ID"
VALID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
current: ContextVar[str] = ContextVar("correlation_id", default="")


def correlation_id(request: Request) -> str:
    return request.scope.get("state", {}).get("correlation_id") or current.get()


class CorrelationMiddleware:
    """Puts the id in `request.state` and the context, and on the response headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(HEADER.lower().encode(), b"").decode(errors="replace")
        value = given if VALID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["correlation_id"] = value
        token = current.set(value)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((HEADER.lower().encode(), value.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            current.reset(token)
