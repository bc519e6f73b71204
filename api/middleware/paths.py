"""A path holding an encoded slash (`%2F`) names nothing here: answered 404 before routing.

No job id or artifact name holds a slash, but the router matches the decoded path, so without
this `GET /api/jobs/x%2Fcancel` would reach the cancel route (405: not a GET) and
`GET /api/jobs/x%2F` would be redirected to `/api/jobs/x` (307), another job's address.
"""

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from api.problems import Problem, problem_response


class EncodedSlashMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and b"%2f" in scope.get("raw_path", b"").lower():
            problem = Problem(
                404, "E404-NOT_FOUND", "Not Found", "no job id or file name holds a slash (%2F in the path)"
            )
            await problem_response(Request(scope), problem)(scope, receive, send)
            return
        await self.app(scope, receive, send)
