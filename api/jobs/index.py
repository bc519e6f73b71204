"""Each API process's copy of the jobs in Prefect, so that reads do not wait on a busy Prefect.

While a queue drains, the Prefect server also serves every flow run's own traffic, and one
query took 50-250 ms (`python bench/scale.py load`): reads that asked Prefect each time
missed their 100 ms target. So each API process keeps the newest attempt of every job in
memory: read whole when it starts and every `job_index_resync_seconds` (which also drops
jobs deleted in Prefect), and every `job_index_seconds` it reads what can have changed:

- the runs in a moving state (pending, running, paused, cancelling), with their progress;
- the runs that ended, or were created, in the last `LOOKBACK_SECONDS`;
- a run that left the moving states without turning up in either, by its job;
- and how many jobs Prefect holds: more than the copy means some were stored too late to be found by
  time (a batch committed after the lookback), and the next pass reads the copy whole.

Writes made through this process update its copy at once; another process's writes show
after its next refresh. A job the copy lacks (created elsewhere a moment ago) is read from
Prefect and kept. A copy that could not be refreshed for `job_index_max_age_seconds` is
not used, so while Prefect is away reads answer as Prefect does: 503.
"""

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, get_args
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterEndTime,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterId,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import Artifact, FlowRun, StateType
from prefect.client.schemas.sorting import FlowRunSort

from api.events.loop import PeriodicReader
from api.jobs.errors import JobNotFound
from api.jobs.runs import (
    JobRuns,
    attempt_of,
    check_job_id,
    deployment_filter,
    earlier_attempts,
    list_jobs,
    queue_stats,
    read_artifacts,
    read_job_runs,
)
from api.keys import Caller
from api.prefect_client import PAGE, RequestCounter, read_all
from api.schemas.jobs import QueueStats
from api.settings import settings
from flows.contract.status import ACTIVE, LATEST_TAG, TURN_TAG, JobStatus, job_id_of, job_tag, owner_of, status_of

log = logging.getLogger("aura.index")
MOVING = [StateType.PENDING, StateType.RUNNING, StateType.PAUSED, StateType.CANCELLING]
# How far back "ended or created lately" looks: several refreshes, and room for the clocks of
# other machines (a run's end time is its flow-run process's clock).
LOOKBACK_SECONDS = 30.0
# A new job's run may be moved up to its owner's turn just after it is made (`api.jobs.fair_share`):
# such a run (tagged `aura-turn`) is read again on every refresh while this young, so that every
# process sees the turn.
TURN_SETTLE_SECONDS = 5.0
# Runs per artifacts query: each has at most seven (six stages' progress and an error), so one page holds them.
ARTIFACT_RUNS = 25
EARLIEST = datetime.min.replace(tzinfo=UTC)


@dataclass
class Entry:
    """A job as the copy holds it: its newest attempt (and the first, for `createdAt`)."""

    runs: JobRuns
    artifacts_read: bool  # a run that ended before this process started has its artifacts read when first asked for
    stale: bool = False  # it ended as this process's stream saw: read it from Prefect before answering

    @property
    def status(self) -> JobStatus:
        return status_of(self.runs.latest)

    @property
    def owner(self) -> str | None:
        return owner_of(self.runs.latest.tags)


class JobIndex(PeriodicReader):
    """Give it a Prefect client of its own (`counting_client`), so its requests can be counted."""

    name = "jobs copy"

    def __init__(
        self, client: PrefectClient, counter: RequestCounter, started: Callable[[FlowRun], None] = lambda run: None
    ) -> None:
        super().__init__()
        self.client = client
        self.counter = counter
        self.started = started
        self.finished: Callable[[FlowRun], None] = lambda run: None
        # Jobs submitted through this process that have not started yet: `started` is told of each once.
        self._waiting: set[str] = set()
        # Runs this process made or cancelled that have not ended yet: `finished` is told of each once.
        self._followed: set[UUID] = set()
        self._entries: dict[str, Entry] = {}
        # When each job's entry was read from Prefect (or marked stale): an answer read earlier is older news.
        self._read_at: dict[str, float] = {}
        self._moving: set[str] = set()
        self._fresh_at = float("-inf")
        self._synced_at = float("-inf")

    @property
    def fresh(self) -> bool:
        return time.monotonic() - self._fresh_at <= settings.job_index_max_age_seconds

    @property
    def loop_seconds(self) -> float:
        return settings.job_index_seconds

    @property
    def age_seconds(self) -> float:
        """Seconds since the copy was last refreshed (infinite before the first refresh, or after a failed one)."""
        return time.monotonic() - self._fresh_at

    def counts(self) -> dict[str, int]:
        """Jobs by status, every owner's; every status is there, zero or not."""
        found = Counter(entry.status for entry in self._entries.values())
        return {status: found[status] for status in get_args(JobStatus)}

    def active_owners(self) -> int:
        return len({entry.owner for entry in self._entries.values() if entry.status in ACTIVE})

    def active(self, *, even_if_old: bool = False) -> list[JobRuns]:
        """Every owner's queued and running jobs; none when the copy is too old to tell, unless `even_if_old`."""
        if not (self.fresh or even_if_old):
            return []
        return [entry.runs for entry in self._entries.values() if entry.status in ACTIVE]

    async def run_once(self) -> None:
        await self.refresh_once()

    async def refresh_once(self, started: float | None = None) -> None:
        """One pass: the whole copy when a resync is due, else what can have changed.

        `started` is the `time.monotonic()` the pass counts as begun at (now by default); the copy
        counts as fresh from then.
        """
        started = time.monotonic() if started is None else started
        if started - self._synced_at >= settings.job_index_resync_seconds:
            await self._sync(started)
        else:
            await self._refresh(started)
        self._fresh_at = started

    def pass_failed(self, error: Exception) -> None:
        # Prefect away or answering badly: reads go to Prefect (and answer as it does) until a pass succeeds.
        self._fresh_at = self._synced_at = float("-inf")

    # Reads for the routes.

    async def read(self, job_id: str, who: Caller) -> JobRuns:
        """Every attempt of the job, as `read_job_runs` gives it; from the copy when it is fresh."""
        check_job_id(job_id)
        entry = self._entries.get(job_id) if self.fresh else None
        if entry is None or entry.stale:
            return await self.reload(job_id, who)
        if not who.may_see(entry.owner):
            raise JobNotFound(job_id)
        await self._read_artifacts([entry])
        return entry.runs

    async def reload(self, job_id: str, who: Caller) -> JobRuns:
        """The job read from Prefect, and kept: after a write, or when the copy lacks it."""
        read_at = time.monotonic()
        runs = await read_job_runs(self.client, job_id, who)
        self._keep(job_id, Entry(runs=runs, artifacts_read=True), read_at)
        return runs

    async def page(
        self, who: Caller, *, statuses: list[str] | None, limit: int, offset: int
    ) -> tuple[list[JobRuns], int]:
        """One page of the jobs `who` may see, newest first, and how many match."""
        if not self.fresh:
            return await list_jobs(self.client, who, statuses=statuses, limit=limit, offset=offset)
        matching = [entry for entry in self._visible(who) if not statuses or entry.status in statuses]
        matching.sort(key=lambda entry: entry.runs.latest.expected_start_time or EARLIEST, reverse=True)
        page = matching[offset : offset + limit]
        await self._read_artifacts(page)
        return [entry.runs for entry in page], len(matching)

    async def stats(self, who: Caller) -> QueueStats:
        if not self.fresh:
            return await queue_stats(self.client, who)
        counts = Counter(entry.status for entry in self._visible(who))
        return QueueStats(
            total=sum(counts.values()),
            queued=counts["queued"],
            running=counts["running"] + counts["cancelling"],
            completed=counts["completed"],
            failed=counts["failed"],
            cancelled=counts["cancelled"],
        )

    # Writes through this process, and what its event stream saw.

    def add(self, flow_run: FlowRun, read_at: float) -> None:
        """A job just submitted through this process."""
        self._waiting.add(job_id_of(flow_run))
        self.follow(flow_run.id)
        self._keep(job_id_of(flow_run), Entry(runs=JobRuns([flow_run], []), artifacts_read=True), read_at)

    def follow(self, flow_run_id: UUID) -> None:
        """Tell `finished` of this run once the copy sees it end."""
        self._followed.add(flow_run_id)

    def ended(self, job_id: str) -> None:
        """The job's stream saw it end: its next read goes to Prefect, so the two agree."""
        if entry := self._entries.get(job_id):
            entry.stale = True
            self._read_at[job_id] = time.monotonic()

    # Keeping the copy.

    def _visible(self, who: Caller) -> list[Entry]:
        entries = list(self._entries.values())
        return entries if who.admin else [entry for entry in entries if entry.owner == who.owner]

    def _keep(self, job_id: str, entry: Entry, read_at: float) -> None:
        known = self._entries.get(job_id)
        if read_at < self._read_at.get(job_id, float("-inf")):
            return
        if known is not None:
            if attempt_of(known.runs.latest) > attempt_of(entry.runs.latest):
                return  # an earlier attempt that still had the newest-attempt tag when it was read
            first = known.runs.attempts[0]
            if len(entry.runs.attempts) == 1 and attempt_of(entry.runs.latest) > 1 and first.id != entry.runs.latest.id:
                entry.runs.attempts.insert(0, first)
        self._entries[job_id] = entry
        self._read_at[job_id] = read_at
        latest = entry.runs.latest
        if job_id in self._waiting and latest.start_time is not None:
            self._waiting.discard(job_id)
            self.started(latest)
        # An earlier attempt too: a retry can come before this copy saw the attempt it follows end.
        for run in entry.runs.attempts:
            if run.id in self._followed and run.state is not None and run.state.is_final():
                self._followed.discard(run.id)
                self.finished(run)

    async def _sync(self, started: float) -> None:
        """Read every job again: the whole copy, as of `started`."""
        newest = self._newest_per_job(await self._read_every_latest())
        earlier = await earlier_attempts(self.client, [run for run in newest if attempt_of(run) > 1])
        known = self._entries
        entries: dict[str, Entry] = {}
        for run in newest:
            job_id = job_id_of(run)
            before = known.get(job_id)
            if (
                before is not None
                and not before.stale
                and run.state_type not in MOVING
                and (before.runs.latest.id, before.runs.latest.state_id) == (run.id, run.state_id)
            ):
                entries[job_id] = before  # as it was: its artifacts need not come again
            else:
                entries[job_id] = self._entry(run, earlier)
        await self._read_artifacts([entry for entry in entries.values() if entry.runs.latest.state_type in MOVING])
        for job_id, entry in entries.items():
            self._keep(job_id, entry, started)
        for job_id in known.keys() - entries.keys():
            if self._read_at.get(job_id, float("-inf")) <= started:
                self._entries.pop(job_id, None)
                self._read_at.pop(job_id, None)
        self._moving = {job_id for job_id, entry in entries.items() if entry.runs.latest.state_type in MOVING}
        self._synced_at = started
        log.info("jobs copy read whole: %d jobs", len(entries))

    async def _refresh(self, started: float) -> None:
        """Read what can have changed since the last refresh; the whole copy at the next pass if Prefect
        holds jobs this read did not find."""
        held_by_prefect = await self.client.count_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[LATEST_TAG])),
            deployment_filter=deployment_filter(),
        )
        await self._read_changes(started)
        if held_by_prefect > len(self._entries) and started - self._synced_at >= LOOKBACK_SECONDS:
            # A job stored after its scheduled time had left the lookback (a batch Prefect took that long to
            # commit) is found by no refresh: the next pass reads the whole copy, at most once a lookback
            # (two runs of one job tagged newest at once, during a retry, count twice).
            log.info(
                "jobs copy: Prefect holds %d jobs, the copy %d; reading it whole", held_by_prefect, len(self._entries)
            )
            self._synced_at = float("-inf")

    async def _read_changes(self, started: float) -> None:
        now = datetime.now(UTC)
        since = now - timedelta(seconds=LOOKBACK_SECONDS)
        settled = now - timedelta(seconds=TURN_SETTLE_SECONDS)
        moving = await self._read_latest(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=MOVING)))
        # Of the runs ended or created lately, the ones this copy holds as they are need not come again.
        held = [entry.runs.latest for entry in self._entries.values() if not entry.stale]
        ended = [run.id for run in held if run.end_time and run.end_time >= since]
        created = [
            run.id
            for run in held
            if run.expected_start_time
            and run.expected_start_time >= since
            and run.state_type == StateType.SCHEDULED
            and not (TURN_TAG in run.tags and run.expected_start_time >= settled)
        ]
        # Prefect types `after_` as its pendulum DateTime; pydantic validates any aware datetime into one.
        lately = [
            *await self._read_latest(
                end_time=FlowRunFilterEndTime(after_=since),  # type: ignore[arg-type]
                id=FlowRunFilterId(not_any_=ended or None),
            ),
            *await self._read_latest(
                expected_start_time=FlowRunFilterExpectedStartTime(after_=since),  # type: ignore[arg-type]
                id=FlowRunFilterId(not_any_=created or None),
            ),
        ]
        seen = {job_id_of(run) for run in (*moving, *lately)}
        if left := sorted(self._moving - seen):
            lately += await self._read_latest(
                tags=FlowRunFilterTags(all_=[LATEST_TAG], any_=[job_tag(job_id) for job_id in left])
            )
        changed = [run for run in self._newest_per_job([*moving, *lately]) if self._changed(run)]
        first = await earlier_attempts(
            self.client, [run for run in changed if attempt_of(run) > 1 and job_id_of(run) not in self._entries]
        )
        entries = {job_id_of(run): self._entry(run, first) for run in changed}
        await self._read_artifacts(list(entries.values()))
        for job_id, entry in entries.items():
            self._keep(job_id, entry, started)
        self._moving = {job_id_of(run) for run in moving}

    @staticmethod
    def _entry(run: FlowRun, earlier: dict[str, list[FlowRun]]) -> Entry:
        """A newly read run, its artifacts still to read (a queued run has none yet)."""
        return Entry(
            runs=JobRuns([*earlier.get(job_id_of(run), []), run], []),
            artifacts_read=run.state_type == StateType.SCHEDULED,
        )

    def _changed(self, run: FlowRun) -> bool:
        known = self._entries.get(job_id_of(run))
        return (
            known is None
            or known.stale
            or known.runs.latest.id != run.id
            or known.runs.latest.state_id != run.state_id
            or run.state_type in MOVING
        )

    @staticmethod
    def _newest_per_job(runs: list[FlowRun]) -> list[FlowRun]:
        newest: dict[str, FlowRun] = {}
        for run in runs:
            job_id = job_id_of(run)
            if job_id not in newest or attempt_of(run) > attempt_of(newest[job_id]):
                newest[job_id] = run
        return list(newest.values())

    async def _read_latest(self, **filters: Any) -> list[FlowRun]:
        flow_run_filter = FlowRunFilter(**{"tags": FlowRunFilterTags(all_=[LATEST_TAG]), **filters})
        return await read_all(
            lambda offset: self.client.read_flow_runs(
                flow_run_filter=flow_run_filter,
                deployment_filter=deployment_filter(),
                sort=FlowRunSort.ID_DESC,
                limit=PAGE,
                offset=offset,
            )
        )

    async def _read_every_latest(self) -> list[FlowRun]:
        """Every job's newest attempt, paged by expected start time so that runs added meanwhile shift no page."""
        found: dict[UUID, FlowRun] = {}
        before: datetime | None = None
        while True:
            # Keyword arguments of FlowRunFilter. Prefect types `before_` as its pendulum DateTime;
            # pydantic validates any aware datetime into one.
            filters: dict[str, Any] = (
                {"expected_start_time": FlowRunFilterExpectedStartTime(before_=before)} if before else {}  # type: ignore[arg-type]
            )
            page = await self.client.read_flow_runs(
                flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[LATEST_TAG]), **filters),
                deployment_filter=deployment_filter(),
                sort=FlowRunSort.EXPECTED_START_TIME_DESC,
                limit=PAGE,
            )
            added = {run.id: run for run in page if run.id not in found}
            found |= added
            if len(page) < PAGE or not added:
                return list(found.values())
            # `before_` is inclusive: the runs at the boundary come again and are skipped.
            before = min(run.expected_start_time or EARLIEST for run in page)

    async def _read_artifacts(self, entries: list[Entry]) -> None:
        """The progress and error artifacts of the entries' newest attempts, where not read yet."""
        wanted = {entry.runs.latest.id: entry for entry in entries if not entry.artifacts_read}
        run_ids = list(wanted)
        found: dict[UUID, list[Artifact]] = {run_id: [] for run_id in run_ids}
        for start in range(0, len(run_ids), ARTIFACT_RUNS):
            for artifact in await read_artifacts(self.client, run_ids[start : start + ARTIFACT_RUNS]):
                found[artifact.flow_run_id].append(artifact)  # type: ignore[index]
        for run_id, entry in wanted.items():
            entry.runs.artifacts = found[run_id]
            entry.artifacts_read = True
