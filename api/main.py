"""The FastAPI facade: wiring only. Run with `aura api` or `aura serve`."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api import problems
from api.keys import load_keys
from api.middleware.body_limit import BodyLimitMiddleware
from api.middleware.correlation import CorrelationMiddleware
from api.middleware.paths import EncodedSlashMiddleware
from api.routes import events, jobs, queue, render, system, tokens, web, webhooks
from api.schemas.problem import add_components, document_problems
from api.service import JobService
from api.settings import settings

ROUTERS = (
    jobs.router,
    events.router,
    queue.router,
    render.router,
    system.router,
    tokens.router,
    webhooks.router,
    web.router,
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with JobService.running() as service:
        app.state.service = service
        yield


def document_errors_as_problems(app: FastAPI) -> None:
    """`app.openapi`: FastAPI's document with the event payloads in its components and every error a problem."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            add_components(document, *events.STREAM_MODELS)
            add_components(document, *jobs.REQUEST_MODELS, mode="validation")
            app.openapi_schema = document_problems(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


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
    document_errors_as_problems(app)
    app.add_middleware(EncodedSlashMiddleware)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.api_max_body_bytes,
        by_path={"/api/jobs/batch": settings.api_max_batch_body_bytes},
    )
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
