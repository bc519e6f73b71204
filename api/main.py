"""The FastAPI facade: wiring only. Run with `aura api` or `aura serve`."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api import problems
from api.auth import load_keys
from api.body_limit import BodyLimitMiddleware
from api.correlation import CorrelationMiddleware
from api.job_index import JobIndex
from api.poller import Poller
from api.prefect_client import RequestCounter, api_client, counting_client
from api.routes import events, jobs, queue, render, system, tokens, web
from flows.settings import settings


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    poll_counter, copy_counter = RequestCounter(), RequestCounter()
    async with api_client() as client, counting_client(poll_counter) as poll_client, \
            counting_client(copy_counter) as copy_client:
        app.state.prefect = client
        app.state.index = JobIndex(copy_client, copy_counter)
        app.state.poller = Poller(poll_client, poll_counter, ended=app.state.index.ended)
        loops = [asyncio.create_task(app.state.poller.run()), asyncio.create_task(app.state.index.run())]
        try:
            yield
        finally:
            for loop in loops:
                loop.cancel()


def create_app() -> FastAPI:
    app = FastAPI(
        title="Aura video jobs",
        version="0.1.0",
        description="Narrated videos from a brief. Each job is a Prefect flow run; errors are RFC 7807 problems.",
        lifespan=lifespan,
    )
    app.state.keys = load_keys(settings.api_keys, settings.api_keys_file)
    problems.install(app)
    for router in (jobs.router, events.router, queue.router, render.router, system.router, tokens.router,
                   web.router):
        app.include_router(router)
    app.mount("/web", web.files, name="web")
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.api_max_body_bytes)
    app.add_middleware(CorrelationMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "Last-Event-ID", "X-Correlation-ID"],
            expose_headers=["Location", "Retry-After", "X-Correlation-ID"], max_age=600,
        )
    return app


app = create_app()
