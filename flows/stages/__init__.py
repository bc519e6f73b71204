"""One Prefect task per stage. Each body is short: it opens a stage report and
hands the work to a provider that knows nothing of Prefect."""

from collections.abc import Callable
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from flows.retry import is_transient, retry_delays
from flows.settings import settings


def stage_task(name: str) -> Callable[[Callable[..., Any]], Any]:
    """The task decorator every stage shares: its name and the retry policy."""
    return task(
        name=name,
        task_run_name=name,
        retries=settings.retry_max,
        retry_delay_seconds=retry_delays() or 0,
        retry_condition_fn=is_transient,
        cache_policy=NO_CACHE,
    )
