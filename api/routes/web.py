"""The dashboard: the static files of the `web` package, with the page itself at `/`."""

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

from web import DIRECTORY as WEB

# The page and its modules change with the code; the browser revalidates them on every load.
NO_CACHE = {"Cache-Control": "no-cache"}

router = APIRouter(include_in_schema=False)


@router.get("/")
async def dashboard() -> FileResponse:
    return FileResponse(WEB / "index.html", headers=NO_CACHE)


class WebFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(NO_CACHE)
        return response


files = WebFiles(directory=WEB)
