"""The FastAPI facade: wiring only. Run with `aura api` or `aura serve`."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api import problems
from api.keys import load_keys
from api.middleware.body_limit import BodyLimitMiddleware
from api.middleware.correlation import CorrelationMiddleware
from api.routes import events, jobs, queue, render, system, tokens, web
from api.service import JobService
from api.settings import settings

ROUTERS = (jobs.router, events.router, queue.router, render.router, system.router, tokens.router, web.router)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with JobService.running() as service:
        app.state.service = service
        yield


def create_app() -> FastAPI:
    app = FastAPI(
        title="Aura video jobs",
        version="0.1.0",
        description="Narrated videos from a brief. Each job is a Prefect flow run; errors are RFC 7807 problems.",
        lifespan=lifespan,
    )
    app.state.keys = load_keys(settings.api_keys, settings.api_keys_file)
    problems.install(app)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/web", web.files, name="web")
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.api_max_body_bytes)
    app.add_middleware(CorrelationMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "Last-Event-ID", "X-Correlation-ID"],
            expose_headers=["Location", "Retry-After", "X-Correlation-ID"],
            max_age=600,
        )
    return app


app = create_app()
