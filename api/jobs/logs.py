"""A job's log lines, as Prefect stores them: every attempt's, oldest first, paged by time."""

from datetime import datetime

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId, LogFilterTimestamp
from prefect.client.schemas.objects import Log
from prefect.client.schemas.sorting import LogSort

from api.jobs.runs import JobRuns, attempt_of
from api.schemas.jobs import LogLine, LogsPublic


def what_it_says(log: Log) -> tuple[object, ...]:
    """A log line by its content, not its row: Prefect's client sends a batch again when its answer was
    lost (a Prefect replica died after storing it), so one line may be stored twice."""
    return (log.flow_run_id, log.task_run_id, log.timestamp, log.level, log.message)


async def read_logs(client: PrefectClient, runs: JobRuns, *, after: datetime | None, limit: int) -> LogsPublic:
    """Up to `limit` lines after `after`; `nextAfter` is set when more may follow."""
    attempt_by_run = {run.id: attempt_of(run) for run in runs.attempts}
    log_filter = LogFilter(flow_run_id=LogFilterFlowRunId(any_=list(attempt_by_run)))
    if after:
        # Prefect types this field as its pendulum DateTime; pydantic validates any aware datetime into one.
        log_filter.timestamp = LogFilterTimestamp(after_=after)  # type: ignore[arg-type]
    found = await client.read_logs(log_filter=log_filter, sort=LogSort.TIMESTAMP_ASC, limit=limit)
    # Prefect's `after_` is inclusive: the line at the cursor was on the previous page.
    found = [log for log in found if after is None or log.timestamp > after]
    full_page = len(found) == limit
    said_before: set[tuple[object, ...]] = set()
    unique = []
    for log in found:
        said = what_it_says(log)
        if said not in said_before:
            said_before.add(said)
            unique.append(log)
    lines = [
        LogLine(
            timestamp=log.timestamp,
            level=log.level,
            attempt=attempt_by_run.get(log.flow_run_id, 1),  # type: ignore[arg-type]  # read by flow run: never None
            message=log.message,
        )
        for log in unique
    ]
    return LogsPublic(job_id=runs.job_id, logs=lines, next_after=lines[-1].timestamp if full_page and lines else None)
