"""Refuse request bodies over the configured size before the app reads them.

A declared `Content-Length` over the limit is refused at once. A body without
one (chunked) is read here up to the limit, then handed on whole; the memory
this takes is bounded by the limit. A path may have a limit of its own (a batch
of jobs is larger than one job).
"""

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import Problem, problem_response


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int, by_path: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.by_path = by_path or {}

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, size: str, limit: int) -> None:
        problem = Problem(
            413,
            "E413-TOO_LARGE",
            "Request body too large",
            f"the request body is {size} bytes; at most {limit} are accepted",
        )
        await problem_response(Request(scope), problem)(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.by_path.get(scope["path"], self.max_bytes)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit():
            if int(declared) > limit:
                await self._refuse(scope, receive, send, declared.decode(), limit)
                return
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > limit:
                await self._refuse(scope, receive, send, f"over {limit}", limit)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)
