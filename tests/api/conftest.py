"""Fixtures of the in-process API tests: the app as `create_app` wires it, over recorded Prefect data.

Starlette 1.10's TestClient warns, on import, that it would rather drive the app with the
`httpx2` package, which this project does not install; plain `httpx` works. The warning is
about Starlette's choice of HTTP library, so it is silenced for that one import here, before
any test module imports the TestClient, and every other warning still fails a test.
"""

import warnings
from typing import cast

import pytest
from fastapi import FastAPI
from prefect.client.orchestration import PrefectClient
from starlette.exceptions import StarletteDeprecationWarning

from api.events.poller import Poller
from api.jobs.index import JobIndex
from api.prefect_client import RequestCounter
from api.service import JobService
from tests.utils.recorded import RecordedPrefect

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`", StarletteDeprecationWarning)
    import starlette.testclient  # noqa: F401


@pytest.fixture
def prefect() -> RecordedPrefect:
    """An empty Prefect; a test records the runs it needs."""
    return RecordedPrefect()


def service_over(prefect: RecordedPrefect) -> JobService:
    """The process's job service, its copy of the jobs and its poller all reading `prefect`; nothing runs yet."""
    client = cast(PrefectClient, prefect)
    return JobService(client, JobIndex(client, RequestCounter()), Poller(client, RequestCounter()))


@pytest.fixture
def app(prefect: RecordedPrefect) -> FastAPI:
    """The API as `create_app` makes it, its lifespan not started: the service reads `prefect`, keys are off."""
    from api.main import create_app

    made = create_app()
    made.state.service = service_over(prefect)
    return made
