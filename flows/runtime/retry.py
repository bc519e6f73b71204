"""The retry policy of every stage task: which errors, how often, how long apart.

Prefect 3.8.8 ignores `retry_jitter_factor` for task retries, so the jitter is
applied here, to the delays computed when the stages are defined. Each flow run
on a worker is a new process, so each run draws its own jitter.
"""

import random
from typing import Any

from flows.contract.errors import TransientError
from flows.settings import settings


def retry_delays(
    *,
    retries: int = settings.retry_max,
    base: float = settings.retry_base_seconds,
    cap: float = settings.retry_cap_seconds,
    jitter: float = settings.retry_jitter,
) -> list[float]:
    """base × 2^n, capped, each varied by up to ±jitter."""
    delays = []
    for attempt in range(retries):
        delay = min(cap, base * 2**attempt)
        delays.append(round(max(0.0, delay * (1 + random.uniform(-jitter, jitter))), 3))
    return delays


def is_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect's `retry_condition_fn`: retry only errors that may heal by themselves."""
    error = state.data
    return isinstance(error, (TransientError, TimeoutError, ConnectionError))
