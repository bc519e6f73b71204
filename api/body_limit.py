"""Refuse request bodies over the configured size before anything reads them whole."""

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import Problem, problem_response


def too_large(size: str, limit: int) -> Problem:
    return Problem(413, "E413-TOO_LARGE", "Request body too large",
                   f"the request body is {size} bytes; at most {limit} are accepted")


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            response = problem_response(Request(scope), too_large(declared.decode(), self.max_bytes))
            await response(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # Raised inside the app, where the problem handlers turn it into a 413.
                    raise too_large(f"over {self.max_bytes}", self.max_bytes)
            return message

        await self.app(scope, counted, send)
