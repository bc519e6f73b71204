"""One poll loop per API process: what Prefect stores about watched jobs, turned into events.

Every tick asks Prefect, for all watched jobs at once, one filtered query per
kind: their flow runs, the task runs, the log lines and the artifacts of the
runs still going (or just ended). Only a run whose state changed costs one more
query (its state history; a task run's only when it retried or failed). The
load grows with the jobs watched, never with the clients watching them: every
client of a job reads the same timeline.

Prefect's own event stream (`/api/events/out`) was the other way to learn of
changes: it tells of state changes sooner, but not of log lines or progress,
and a replay still has to read what is stored, so polling is what serves
(bench/events.py measures the latency it gives).
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TypeVar
from uuid import UUID

import httpx
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterTags,
    LogFilter,
    LogFilterFlowRunId,
    LogFilterTimestamp,
)
from prefect.client.schemas.objects import Artifact, FlowRun
from prefect.client.schemas.sorting import ArtifactSort, FlowRunSort, LogSort

from api import jobs
from api.eta import EtaModel, learn_from_prefect
from api.history import flow_state_facts, log_fact, needs_history, progress_fact, task_state_facts
from api.problems import not_found
from api.timeline import Emitted, Outcome, Timeline
from flows.job_status import job_id_of, job_tag
from flows.request import VideoRequest
from flows.settings import settings
from flows.storage import reusable_stages

log = logging.getLogger("aura.events")
PAGE = 200
T = TypeVar("T")


class RequestCounter:
    def __init__(self) -> None:
        self.count = 0

    async def __call__(self, request: httpx.Request) -> None:
        self.count += 1


def counting_client(counter: RequestCounter) -> PrefectClient:
    return get_client(httpx_settings={"event_hooks": {"request": [counter]}})


class Subscriber:
    """One client's queue. A client that falls `events_client_buffer` events behind is dropped."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Emitted | None] = asyncio.Queue()
        self.dropped = False

    def offer(self, events: Sequence[Emitted]) -> None:
        if self.dropped:
            return
        if self.queue.qsize() + len(events) > settings.events_client_buffer:
            self.dropped = True
            self.queue.put_nowait(None)
            return
        for event in events:
            self.queue.put_nowait(event)


@dataclass
class Feed:
    """A watched job: its timeline, its clients, and what the poller has already read of it."""

    timeline: Timeline
    runs: dict[UUID, FlowRun] = field(default_factory=dict)
    task_states: dict[UUID, UUID | None] = field(default_factory=dict)
    progress_seen: dict[UUID, datetime] = field(default_factory=dict)
    errors: dict[UUID, list[Artifact]] = field(default_factory=dict)
    subscribers: set[Subscriber] = field(default_factory=set)
    idle_since: float | None = None

    @property
    def job_id(self) -> str:
        return self.timeline.job_id


class Poller:
    """Give it a Prefect client of its own (`counting_client`), so its requests can be counted."""

    def __init__(self, client: PrefectClient, counter: "RequestCounter") -> None:
        self.client = client
        self.counter = counter
        self.feeds: dict[str, Feed] = {}
        self.eta = EtaModel()
        self.ticks = 0
        self._eta_read_at = float("-inf")
        self._lock = asyncio.Lock()

    async def run(self) -> None:
        """The loop; runs for the life of the API process."""
        while True:
            started = time.monotonic()
            try:
                await self.tick()
            except (httpx.HTTPError, OSError) as exc:
                log.warning("event poll failed, trying again: %s", exc)
            except Exception:
                # One bad record must not stop every stream of this process: log it and poll on.
                log.exception("event poll failed")
            await asyncio.sleep(max(0.0, settings.events_poll_seconds - (time.monotonic() - started)))

    # Watching.

    async def watch(self, job_id: str) -> Feed:
        """The job's feed, read from Prefect if this process is not watching it yet; 404 for no such job."""
        jobs.check_job_id(job_id)
        async with self._lock:
            feed = self.feeds.get(job_id)
            if feed is None:
                feed = await self._load(job_id)
                self.feeds[job_id] = feed
            return feed

    def subscribe(self, feed: Feed) -> Subscriber:
        subscriber = Subscriber()
        feed.subscribers.add(subscriber)
        feed.idle_since = None
        return subscriber

    def unsubscribe(self, feed: Feed, subscriber: Subscriber) -> None:
        feed.subscribers.discard(subscriber)
        if not feed.subscribers:
            feed.idle_since = time.monotonic()

    def saw_run(self, flow_run: FlowRun) -> None:
        """A new attempt started through this process: its clients may reconnect before the next tick."""
        feed = self.feeds.get(job_id_of(flow_run))
        if feed is not None:
            feed.timeline.register_run(flow_run.id, flow_run.parameters.get("attempt", 1))

    def live_eta(self, job_id: str) -> float | None:
        feed = self.feeds.get(job_id)
        return feed.timeline.eta if feed else None

    def subscriber_count(self) -> int:
        return sum(len(feed.subscribers) for feed in self.feeds.values())

    # Reading Prefect.

    async def _load(self, job_id: str) -> Feed:
        runs = await self.client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[job_tag(job_id)])),
            sort=FlowRunSort.EXPECTED_START_TIME_ASC, limit=50,
        )
        if not runs:
            raise not_found("job", job_id)
        first = min(runs, key=lambda run: run.parameters.get("attempt", 1))
        timeline = Timeline(job_id, VideoRequest.model_validate(first.parameters["request"]),
                            first.created or datetime.now(timezone.utc), lambda: self.eta)
        feed = Feed(timeline=timeline, idle_since=time.monotonic())
        await self._read_states(feed, runs)
        await self._read_details({run.id: feed for run in runs}, since=None)
        self._commit(feed)
        return feed

    async def tick(self) -> None:
        self.ticks += 1
        self._forget_idle()
        await self._learn_eta()
        if not self.feeds:
            return
        async with self._lock:
            feeds = list(self.feeds.values())
            runs = await self._paged(lambda offset: self.client.read_flow_runs(
                flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(any_=[job_tag(feed.job_id) for feed in feeds])),
                limit=PAGE, offset=offset))
            by_job = {feed.job_id: feed for feed in feeds}
            changed: dict[str, list[FlowRun]] = {}
            for run in runs:
                feed = by_job.get(job_id_of(run))
                if feed is not None and (run.id not in feed.runs or feed.runs[run.id].state_id != run.state_id):
                    changed.setdefault(feed.job_id, []).append(run)
            for job_id, changed_runs in changed.items():
                await self._read_states(by_job[job_id], changed_runs)
            recent = datetime.now(timezone.utc) - timedelta(
                seconds=settings.events_end_grace_seconds + settings.events_log_lookback_seconds)
            active = {run.id: by_job[job_id_of(run)] for run in runs if job_id_of(run) in by_job
                      and (run.end_time is None or run.end_time > recent)}
            since = datetime.now(timezone.utc) - timedelta(seconds=settings.events_log_lookback_seconds)
            await self._read_details(active, since=since)
            for feed in feeds:
                self._commit(feed)

    async def _read_states(self, feed: Feed, runs: list[FlowRun]) -> None:
        for run in runs:
            feed.timeline.register_run(run.id, run.parameters.get("attempt", 1))
            states = await self.client.read_flow_run_states(run.id)
            feed.timeline.add(flow_state_facts(run, states, end_grace=settings.events_end_grace_seconds))
            feed.runs[run.id] = run

    async def _read_details(self, feeds: dict[UUID, Feed], *, since: datetime | None) -> None:
        """Task runs, log lines and artifacts of these flow runs: one query per kind (more pages if long)."""
        if not feeds:
            return
        run_ids = list(feeds)
        task_runs = await self._paged(lambda offset: self.client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=run_ids)), limit=PAGE, offset=offset))
        for task_run in task_runs:
            feed = feeds[task_run.flow_run_id]  # type: ignore[index]
            feed.timeline.stage_of_task[task_run.id] = task_run.name
            if feed.task_states.get(task_run.id) == task_run.state_id:
                continue
            feed.task_states[task_run.id] = task_run.state_id
            states = await self.client.read_task_run_states(task_run.id) if needs_history(task_run) else None
            feed.timeline.add(task_state_facts(task_run, states))
        log_filter = LogFilter(flow_run_id=LogFilterFlowRunId(any_=run_ids))
        if since is not None:
            log_filter.timestamp = LogFilterTimestamp(after_=since)
        logs = await self._paged(lambda offset: self.client.read_logs(
            log_filter=log_filter, sort=LogSort.TIMESTAMP_ASC, limit=PAGE, offset=offset))
        for line in logs:
            feeds[line.flow_run_id].timeline.add([log_fact(line)])  # type: ignore[index]
        artifacts = await self._artifacts(run_ids, everything=since is None)
        for artifact in artifacts:
            feed = feeds[artifact.flow_run_id]  # type: ignore[index]
            if artifact.key is not None:
                feed.errors.setdefault(artifact.flow_run_id, []).append(artifact)  # type: ignore[arg-type]
            fact = progress_fact(artifact)
            if fact and feed.progress_seen.get(artifact.id) != fact.at:
                feed.progress_seen[artifact.id] = fact.at
                feed.timeline.add([fact])

    async def _artifacts(self, run_ids: list[UUID], *, everything: bool) -> list[Artifact]:
        def page(offset: int) -> Awaitable[list[Artifact]]:
            return self.client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=run_ids)),
                sort=ArtifactSort.UPDATED_DESC, limit=PAGE, offset=offset)
        # While jobs run, the newest updates are all a tick needs.
        return await self._paged(page) if everything else await page(0)

    @staticmethod
    async def _paged(read: Callable[[int], Awaitable[list[T]]]) -> list[T]:
        found: list[T] = []
        while True:
            page = await read(len(found))
            found.extend(page)
            if len(page) < PAGE:
                return found

    # Turning facts into events.

    def _commit(self, feed: Feed) -> None:
        timeline = feed.timeline
        for run in feed.runs.values():
            if run.state and run.state.is_final() and run.id not in timeline.outcomes:
                timeline.outcomes[run.id] = self._outcome(feed, run)
        events = timeline.commit(datetime.now(timezone.utc) - timedelta(seconds=settings.events_settle_seconds))
        if events:
            for subscriber in list(feed.subscribers):
                subscriber.offer(events)
                if subscriber.dropped:
                    log.warning("job %s: dropped a client more than %d events behind",
                                feed.job_id, settings.events_client_buffer)
                    self.unsubscribe(feed, subscriber)

    def _outcome(self, feed: Feed, run: FlowRun) -> Outcome:
        job_id = feed.job_id
        if run.state and run.state.is_completed():
            return Outcome(artifacts=jobs.list_outputs(job_id))
        return Outcome(error=jobs.error_of(run, feed.errors.get(run.id, [])), can_resume=bool(reusable_stages(job_id)))

    def _forget_idle(self) -> None:
        now = time.monotonic()
        for job_id, feed in list(self.feeds.items()):
            if feed.idle_since is not None and now - feed.idle_since > settings.events_keep_seconds:
                del self.feeds[job_id]

    async def _learn_eta(self) -> None:
        if time.monotonic() - self._eta_read_at < settings.eta_refresh_seconds:
            return
        self._eta_read_at = time.monotonic()
        try:
            self.eta = await learn_from_prefect(self.client, jobs.DEPLOYMENT.split("/")[1], settings.eta_history_runs)
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("could not read job history for the ETA: %s", exc)

