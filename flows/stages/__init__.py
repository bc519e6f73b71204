"""One Prefect task per stage. Each body is short: it opens a stage report and
hands the work to a provider that knows nothing of Prefect.

Stages that make something worth keeping (`cache=True`) persist their result
under a key made of the job id, the stage and the request: a later attempt of
the same job finds it and is reported `Cached` instead of redoing the work.
Prefect's local result storage is `results/` under the storage root
(`settings.prefect_env`), so the records sit in `results/<jobId>/.cache/` and
go away together with the files they describe.
"""

import hashlib
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from prefect import Task, runtime, task
from prefect.cache_policies import NO_CACHE

from flows.runtime.retry import is_transient, retry_delays
from flows.settings import settings

P = ParamSpec("P")
R = TypeVar("R")


def stage_cache_key(context: Any, parameters: dict[str, Any]) -> str:
    """`<jobId>/.cache/<stage>-<digest of the request>`."""
    job_id = runtime.flow_run.parameters["job_id"]
    digest = hashlib.sha256(parameters["request"].model_dump_json().encode()).hexdigest()[:16]
    return f"{job_id}/.cache/{context.task.name}-{digest}"


def stage_task(name: str, *, cache: bool = False) -> Callable[[Callable[P, R]], Task[P, R]]:
    """The task decorator every stage shares: its name, the retry policy, and resume caching."""
    caching: dict[str, Any] = (
        {"cache_key_fn": stage_cache_key, "persist_result": True} if cache else {"cache_policy": NO_CACHE}
    )
    return task(
        name=name,
        task_run_name=name,
        retries=settings.retry_max,
        retry_delay_seconds=retry_delays() or 0,
        retry_condition_fn=is_transient,
        **caching,
    )
