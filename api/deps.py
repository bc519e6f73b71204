"""Dependencies shared by the routes."""

from typing import Annotated

from fastapi import Depends, Request
from prefect.client.orchestration import PrefectClient

from api.correlation import correlation_id
from api.job_index import JobIndex
from api.poller import Poller


def prefect(request: Request) -> PrefectClient:
    """The process's one Prefect client, opened by the app's lifespan."""
    return request.app.state.prefect


def poller(request: Request) -> Poller:
    """The process's one event poller, started by the app's lifespan."""
    return request.app.state.poller


def job_index(request: Request) -> JobIndex:
    """The process's copy of the jobs, kept fresh by the app's lifespan."""
    return request.app.state.index


def correlation(request: Request) -> str:
    return correlation_id(request)


Prefect = Annotated[PrefectClient, Depends(prefect)]
Correlation = Annotated[str, Depends(correlation)]
Events = Annotated[Poller, Depends(poller)]
Index = Annotated[JobIndex, Depends(job_index)]
