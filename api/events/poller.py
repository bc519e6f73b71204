"""One poll loop per API process: what Prefect stores about watched jobs, turned into events.

Two sources, one set of facts (`api.events.facts`):

- Prefect's event stream (`/api/events/out`, `api.events.stream`) tells of
  every flow-run and task-run state change the moment the server receives it.
- Polls read what only the database has: log lines and progress artifacts on
  every tick; flow runs and task runs every `events_full_poll_seconds` (every
  tick while the event stream is down); a run's state history only when a
  state is missing from what the stream told; and Prefect's stored task-run
  events only for what the stream cannot have told: a job's past when it is
  first watched, and any stage state a task run shows that no event has told
  yet. Each read is one filtered query for all watched jobs at once, so the
  load grows with the jobs watched, never with the clients watching them.

Facts are committed up to the start of the last poll, less the settle delay:
everything stored before then has been read, so every API process commits the
same facts in the same order. A state change heard on the stream brings the
next poll forward to the moment its fact can be committed. Prefect stores a
task-run event some seconds after it receives it (its event persister flushes
every 5 s), so the stored events are complete only together with the stream:
a job is committed past the start of the stream (less `RECORDED_WITHIN`) only
once the stream was up before its stored events were read, and never past a
stage state its task runs show but no event has told.
"""

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from prefect.client.orchestration import PrefectClient
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
from prefect.events.filters import (
    EventFilter,
    EventNameFilter,
    EventOccurredFilter,
    EventOrder,
    EventRelatedFilter,
)
from prefect.events.schemas.events import ReceivedEvent

from api.events.eta import EtaHistory, EtaModel
from api.events.facts import (
    STEP_STATUS_OF_STATE,
    Fact,
    FlowState,
    Told,
    fact_from_event,
    flow_state_facts,
    log_fact,
    progress_fact,
    run_end_fact,
    stage_of_task_run,
)
from api.events.loop import PeriodicReader
from api.events.stream import ReceivedEventSubscriber
from api.events.timeline import Emitted, Outcome, Timeline
from api.jobs.body import error_of
from api.jobs.errors import JobNotFound
from api.jobs.outputs import list_outputs
from api.jobs.runs import check_job_id
from api.prefect_client import PAGE, RequestCounter, read_all
from api.settings import settings
from flows.contract.artifacts import failure_of
from flows.contract.deployments import VIDEO_FLOW
from flows.contract.layout import reusable_stages
from flows.contract.request import VideoRequest
from flows.contract.status import job_id_of, job_tag, owner_of

log = logging.getLogger("aura.events")
STAGE_EVENTS = EventNameFilter(prefix=["prefect.task-run."])
# Prefect's task run recorder stores a stage's state within this long of receiving its event (measured up to 0.3 s).
RECORDED_WITHIN = timedelta(seconds=1)
# Prefect's event persister stores an event within this long of receiving it (it flushes every 5 s by default).
STORED_WITHIN = timedelta(seconds=10)
EVENTS_PAGE = 50  # the most Prefect's /events/filter answers at once
EVENT_READS_AT_ONCE = 8
EVENT_LOADS_AT_ONCE = 8
# Stage events heard for runs not watched yet (a new attempt before the poll that reads it), kept this long.
UNCLAIMED_SECONDS = 60.0
HELD_WARNING_SECONDS = 10.0
FULL_POLL_WAIT = 0.1
BURST_SECONDS = 0.03
# A log line waits this long for its task run to be known, then goes out naming no step (a task run
# whose events were lost), and a stage state a task run shows this long for its event, then is given
# up. The flow process resends unconfirmed events when it reconnects.
STAGE_WAIT = timedelta(seconds=30)


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
    heard_states: set[UUID] = field(default_factory=set)  # the stage-state events told, whichever way
    awaited: dict[UUID, datetime] = field(default_factory=dict)  # stage states a task run shows, untold yet
    events_read_at: datetime | None = None  # when its stored stage events were last read
    warned: set[str] = field(default_factory=set)  # what held its events back long enough to be logged
    progress_seen: dict[UUID, datetime] = field(default_factory=dict)
    errors: dict[UUID, list[Artifact]] = field(default_factory=dict)
    subscribers: set[Subscriber] = field(default_factory=set)
    idle_since: float | None = None
    states_read_at: datetime = field(default_factory=lambda: datetime.now(UTC))  # its runs' states, last read
    held_from: datetime | None = None  # a new attempt was heard of but not read yet

    @property
    def job_id(self) -> str:
        return self.timeline.job_id

    @property
    def owner(self) -> str | None:
        return next((owner for run in self.runs.values() if (owner := owner_of(run.tags))), None)


class Poller(PeriodicReader):
    """Give it a Prefect client of its own (`counting_client`), so its requests can be counted.
    `ended` is told of each job whose attempt it sees end, before the job's clients are."""

    name = "event poll"

    def __init__(
        self, client: PrefectClient, counter: RequestCounter, ended: Callable[[str], None] = lambda job_id: None
    ) -> None:
        super().__init__()
        self.client = client
        self.counter = counter
        self.ended = ended
        self.events_sent = 0  # job events handed to stream clients (`api.routes.events` counts them)
        self.feeds: dict[str, Feed] = {}
        self.history = EtaHistory(client, VIDEO_FLOW)
        self.ticks = 0
        self.listening_since: datetime | None = None
        self._feed_of_run: dict[UUID, Feed] = {}
        self._unclaimed: deque[tuple[float, ReceivedEvent]] = deque(maxlen=10_000)
        self._loading: dict[str, asyncio.Task[Feed]] = {}
        self._loads = asyncio.Semaphore(EVENT_LOADS_AT_ONCE)
        self._active: dict[UUID, Feed] = {}
        self._last_tick_started = 0.0
        self._polls_left = settings.events_max_polls_per_second
        self._polls_counted_at = time.monotonic()
        self._full_poll_at = float("-inf")
        self._states: asyncio.Task[None] | None = None  # the full poll under way, if any
        # Set while the process watches a job: only then does it listen to Prefect's event stream.
        self._watching = asyncio.Event()

    @property
    def loop_seconds(self) -> float:
        return settings.events_poll_seconds

    @property
    def eta(self) -> EtaModel:
        return self.history.model

    async def run(self) -> None:
        """The poll loop, the event stream listener and the ETA's history, for the life of the API process."""
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._listen())
                group.create_task(self.history.loop())
                group.create_task(self.loop())
        finally:
            if self._states is not None:
                self._states.cancel()

    async def run_once(self) -> None:
        await self.tick()

    async def _listen(self) -> None:
        """Listen to Prefect's event stream while this process watches jobs.

        A process with no job to watch (no stream client, no recent one) leaves the stream: Prefect
        then sends it nothing, and it parses nothing. The first watch after that is polled in full
        until the stream is back (`_covered`).
        """
        names = EventNameFilter(prefix=["prefect.flow-run.", "prefect.task-run."])
        while True:
            await self._watching.wait()
            try:
                # Prefect types this field as its pendulum DateTime; pydantic validates any aware datetime into one.
                since = EventOccurredFilter(since=datetime.now(UTC))  # type: ignore[arg-type]
                async with ReceivedEventSubscriber(
                    filter=EventFilter(event=names, occurred=since), reconnect_on_clean_close=True
                ) as events:
                    self.listening_since = datetime.now(UTC)
                    async for event in events:
                        self.hear(event)
                        if not self._watching.is_set():
                            break
                self.listening_since = None
                if self._watching.is_set():
                    log.warning("Prefect's event stream closed; listening again")
            except Exception as exc:  # the stream is a fast path: without it, polls still read every state
                self.listening_since = None
                log.warning("Prefect's event stream is down, polling states instead: %s", exc)
                await asyncio.sleep(1)

    def hear(self, event: ReceivedEvent) -> None:
        """A state change from the event stream: its fact now, and a poll as soon as it can be committed."""
        told = fact_from_event(event)
        if told is None:
            return
        flow_run_id, fact, task = told
        feed = self._feed_of_run.get(flow_run_id)
        if feed is None:
            if task is not None:
                self._unclaimed.append((time.monotonic(), event))
            elif fact is not None:
                self._hold_for_new_attempt(event, fact)
            return
        self._tell(feed, event.id, told)
        # Committable once the settle delay has passed since Prefect received it (the same clock's time).
        waited = (datetime.now(UTC) - event.received).total_seconds()
        ready = time.monotonic() + max(0.0, settings.events_settle_seconds - waited)
        # A stage ends and the next starts within some 30 ms: one poll a little later serves both.
        self.run_sooner(max(ready, self._next_poll_allowed()), gather=BURST_SECONDS)

    def _polls_left_at(self, now: float) -> float:
        """A token bucket: `events_max_polls_per_second` polls a second, in bursts of as many."""
        rate = settings.events_max_polls_per_second
        return min(rate, self._polls_left + (now - self._polls_counted_at) * rate)

    def _count_poll(self) -> None:
        now = time.monotonic()
        self._polls_left = self._polls_left_at(now) - 1
        self._polls_counted_at = now

    def _next_poll_allowed(self) -> float:
        """When a state change heard on the stream may have its poll: at once while polls are left in the
        bucket (one job's changes come in bursts), at the bucket's rate when many jobs change at once."""
        now = time.monotonic()
        waited = max(0.0, 1 - self._polls_left_at(now)) / settings.events_max_polls_per_second
        return max(self._last_tick_started + settings.events_min_poll_seconds, now + waited)

    def _tell(self, feed: Feed, event_id: UUID, told: Told) -> None:
        """What a state-change event of one of the feed's runs tells, from the stream or from Prefect's store."""
        _, fact, task = told
        if task is not None:
            feed.timeline.stage_of_task[task[0]] = task[1]
            feed.heard_states.add(event_id)
            feed.awaited.pop(event_id, None)
        if fact is not None:
            feed.timeline.add([fact])

    def _hold_for_new_attempt(self, event: ReceivedEvent, fact: Fact) -> None:
        # A new attempt of a watched job: its attempt number is in the flow run, which the next full
        # poll reads; until then, nothing of the job after this state is committed.
        tags = [
            related.id.removeprefix("prefect.tag.aura-job:")
            for related in event.related
            if related.id.startswith("prefect.tag.aura-job:")
        ]
        feed = self.feeds.get(tags[0]) if tags else None
        if feed is not None and isinstance(fact, FlowState):
            feed.held_from = min(fact.at, feed.held_from or fact.at)
            self._full_poll_at = float("-inf")
            self.run_sooner(self._next_poll_allowed())

    # Watching.

    async def watch(self, job_id: str) -> Feed:
        """The job's feed, read from Prefect if this process is not watching it yet; 404 for no such job.

        Jobs are read side by side (`EVENT_LOADS_AT_ONCE`), each once however many clients ask for it
        together, and never under the poll's lock: a thousand clients opening fifty jobs' streams at
        once waited 100 s for their first event when each read waited for the one before, and every
        stream already open waited with them."""
        check_job_id(job_id)
        feed = self.feeds.get(job_id)
        if feed is not None:
            return feed
        loading = self._loading.get(job_id)
        if loading is None:
            loading = self._loading[job_id] = asyncio.create_task(self._load_feed(job_id))
        # Shielded: a client that leaves while the job is read does not cancel the read for the others.
        return await asyncio.shield(loading)

    async def _load_feed(self, job_id: str) -> Feed:
        try:
            async with self._loads:
                feed = await self._load(job_id)
            self.feeds[job_id] = feed
            self._watching.set()
            return feed
        finally:
            del self._loading[job_id]

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
            feed.held_from = feed.held_from or flow_run.created
            self._full_poll_at = float("-inf")

    def live_eta(self, job_id: str) -> float | None:
        feed = self.feeds.get(job_id)
        return feed.timeline.eta if feed else None

    def subscriber_count(self) -> int:
        return sum(len(feed.subscribers) for feed in self.feeds.values())

    # Reading Prefect.

    async def _load(self, job_id: str) -> Feed:
        polled_at = datetime.now(UTC)
        runs = await self.client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[job_tag(job_id)])),
            sort=FlowRunSort.EXPECTED_START_TIME_ASC,
            limit=50,
        )
        if not runs:
            raise JobNotFound(job_id)
        first = min(runs, key=lambda run: run.parameters.get("attempt", 1))
        timeline = Timeline(
            job_id,
            VideoRequest.model_validate(first.parameters["request"]),
            first.created or polled_at,
            lambda: self.eta,
        )
        feed = Feed(timeline=timeline, idle_since=time.monotonic(), states_read_at=polled_at)
        by_run = {run.id: feed for run in runs}
        await self._read_runs({job_id: feed}, runs)
        await self._read_task_runs(by_run, events_of=by_run)
        await self._read_stored(by_run, since=None)
        self._active.update(by_run)
        self._commit(feed, polled_at)
        return feed

    async def tick(self) -> None:
        """Read what changed; commit what can be: one query per kind, for all watched jobs at once.

        Flow and task runs are read in a full poll of their own, which a busy Prefect can take seconds
        to answer (50 running jobs: up to 15 s here). It goes on beside the ticks: what the event
        stream told is committed meanwhile, and only a job the stream cannot vouch for waits for it.
        """
        self.ticks += 1
        self._last_tick_started = time.monotonic()
        self._count_poll()
        self._forget_idle()
        if self._states is not None and self._states.done():
            states, self._states = self._states, None
            states.result()  # a failed full poll fails this pass, as the loop's error policy says
        if not self.feeds:
            return
        polled_at = datetime.now(UTC)
        feeds = {feed.job_id: feed for feed in self.feeds.values()}
        full = self.listening_since is None or (
            time.monotonic() - self._full_poll_at >= settings.events_full_poll_seconds
        )
        since = polled_at - timedelta(seconds=settings.events_log_lookback_seconds)
        if full and self._states is None:
            self._full_poll_at = time.monotonic()
            self._states = asyncio.create_task(self._read_states_of(feeds, polled_at))
        await self._read_stored(dict(self._active), since=since)
        if self._states is not None:
            for feed in feeds.values():
                if self._trusts_stream(feed):
                    self._commit(feed, polled_at)
            # A full poll Prefect answers at once is committed in this pass, for the other jobs too.
            await asyncio.wait([self._states], timeout=FULL_POLL_WAIT)
        for feed in feeds.values():
            self._commit(feed, polled_at)

    async def _read_states_of(self, feeds: dict[str, Feed], polled_at: datetime) -> None:
        held = {job_id: feed.held_from for job_id, feed in feeds.items()}
        runs = await read_all(
            lambda offset: self.client.read_flow_runs(
                flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(any_=[job_tag(job) for job in feeds])),
                limit=PAGE,
                offset=offset,
            )
        )
        await self._read_runs(feeds, runs)
        recent = polled_at - timedelta(seconds=settings.events_end_grace_seconds + settings.events_log_lookback_seconds)
        new = {run.id: feeds[job_id_of(run)] for run in runs if run.end_time is None or run.end_time > recent}
        # Stored stage events: for a new attempt, for a stage state no event told (of an ended attempt
        # too: under load Prefect stored a cancelled stage's event after its run had left `new`), and for
        # any job that the stream, since it last (re)connected, may not have told everything.
        untold = {
            run.id: feed
            for run in runs
            if not self._covered(feed := feeds[job_id_of(run)])
            or feed.awaited
            or (run.id in new and run.id not in self._active)
        }
        await self._read_task_runs(new | untold, events_of=untold)
        # A new attempt's lines and progress so far; later ticks read them with the others.
        added = {run_id: feed for run_id, feed in new.items() if run_id not in self._active}
        await self._read_stored(added, since=None)
        self._active = {run_id: feed for run_id, feed in new.items() if self.feeds.get(feed.job_id) is feed}
        for job_id, feed in feeds.items():
            feed.states_read_at = max(feed.states_read_at, polled_at)
            if feed.held_from == held[job_id]:
                feed.held_from = None  # the attempt it waited for is read; a newer one heard meanwhile is not
        self.run_sooner(self._next_poll_allowed())

    def _trusts_stream(self, feed: Feed) -> bool:
        """Whether the event stream was up before the feed's run states were last read, so it has told
        every state since (a job watched before the stream connected trusts it from its next full poll)."""
        return self.listening_since is not None and self.listening_since <= feed.states_read_at

    def _covered(self, feed: Feed) -> bool:
        """Whether the feed's stage states are all told: the stream was up before its stored stage events
        were read (between them they tell every state), or every attempt had ended long enough before
        that read for Prefect to have stored all of its events."""
        read_at = feed.events_read_at
        if read_at is None:
            return False
        if self.listening_since is not None and self.listening_since <= read_at - RECORDED_WITHIN:
            return True
        ends = [run.end_time for run in feed.runs.values() if run.state and run.state.is_final()]
        return (
            bool(ends) and len(ends) == len(feed.runs) and all(end and end <= read_at - STORED_WITHIN for end in ends)
        )

    async def _read_runs(self, feeds: dict[str, Feed], runs: list[FlowRun]) -> None:
        """Register new attempts; read a run's state history only when its state is news."""
        for run in runs:
            feed = feeds[job_id_of(run)]
            feed.timeline.register_run(run.id, run.parameters.get("attempt", 1))
            self._feed_of_run[run.id] = feed
            known = feed.runs.get(run.id)
            if known is None:
                self._claim(feed, run.id)
            if known is None or known.state_id != run.state_id:
                # A run met for the first time may have had states before the stream knew it was ours.
                heard = known is not None and self._trusts_stream(feed)
                if not (heard and feed.timeline.knows(f"flow-state:{run.state_id}")):
                    feed.timeline.add(flow_state_facts(run, await self.client.read_flow_run_states(run.id)))
                end = run_end_fact(run, end_grace=settings.events_end_grace_seconds)
                feed.timeline.add([end] if end else [])
            feed.runs[run.id] = run

    def _claim(self, feed: Feed, flow_run_id: UUID) -> None:
        """Tell the feed the stage events heard for its run before it was watched."""
        horizon = time.monotonic() - UNCLAIMED_SECONDS
        while self._unclaimed and self._unclaimed[0][0] < horizon:
            self._unclaimed.popleft()
        for _, event in self._unclaimed:
            told = fact_from_event(event)
            if told is not None and told[0] == flow_run_id:
                self._tell(feed, event.id, told)

    async def _read_task_runs(self, feeds: dict[UUID, Feed], *, events_of: dict[UUID, Feed]) -> None:
        """The stage runs, to know their stages and any state not told yet; and the stored stage events of
        the runs in `events_of`. Two queries, for all runs at once."""
        if not feeds:
            return
        read_at = datetime.now(UTC)
        task_runs, events = await asyncio.gather(
            read_all(
                lambda offset: self.client.read_task_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=list(feeds))), limit=PAGE, offset=offset
                )
            ),
            self._stage_events(events_of),
        )
        for event in events:
            told = fact_from_event(event)
            if told is not None and told[0] in events_of:
                self._tell(events_of[told[0]], event.id, told)
        for feed in events_of.values():
            feed.events_read_at = read_at
        for task_run in task_runs:
            feed = feeds[task_run.flow_run_id]  # type: ignore[index]
            # A log line names its stage the same whenever it is read, before the task run is renamed or after.
            stage = stage_of_task_run(task_run.name)
            if stage is None:
                continue
            feed.timeline.stage_of_task[task_run.id] = stage
            state = task_run.state
            if state and task_run.state_id and STEP_STATUS_OF_STATE.get(state.name or ""):
                if task_run.state_id not in feed.heard_states:
                    feed.awaited[task_run.state_id] = state.timestamp

    async def _stage_events(self, feeds: dict[UUID, Feed]) -> list[ReceivedEvent]:
        """The stage-state events Prefect has stored for these runs, oldest first: one query per job.

        One query for many jobs would be one request, but Prefect pages events 50 at a time and each
        further page costs about as much as the first (measured: 2 s a page for 50 jobs' 900 events on
        PostgreSQL, 0.03 s for one job's 18): a job's events fit in one page.
        """
        runs_of: dict[str, list[UUID]] = {}
        for run_id, feed in feeds.items():
            runs_of.setdefault(feed.job_id, []).append(run_id)
        limit = asyncio.Semaphore(EVENT_READS_AT_ONCE)

        async def of_job(run_ids: list[UUID]) -> list[ReceivedEvent]:
            async with limit:
                return await self._stored_events_of(run_ids, since=feeds[run_ids[0]].timeline.created_at)

        found = await asyncio.gather(*(of_job(run_ids) for run_ids in runs_of.values()))
        return [event for events in found for event in events]

    async def _stored_events_of(self, run_ids: list[UUID], *, since: datetime) -> list[ReceivedEvent]:
        # Prefect types these fields as its pendulum DateTime; pydantic validates any aware datetime into one.
        occurred = EventOccurredFilter(
            since=since - timedelta(minutes=1),  # type: ignore[arg-type]
            until=datetime.now(UTC) + timedelta(days=1),  # type: ignore[arg-type]
        )
        related = EventRelatedFilter(id=[f"prefect.flow-run.{run_id}" for run_id in run_ids])
        page = await self.client.read_events(
            filter=EventFilter(occurred=occurred, event=STAGE_EVENTS, related=related, order=EventOrder.ASC),
            limit=EVENTS_PAGE,
        )
        events = list(page.events)
        while page.next_page is not None:
            page = await self.client.read_events_page(str(page.next_page))
            events.extend(page.events)
        return events

    async def _read_stored(self, feeds: dict[UUID, Feed], *, since: datetime | None) -> None:
        """Log lines and progress, which only the database has: one query per kind (more pages if long)."""
        if not feeds:
            return
        run_ids = list(feeds)
        log_filter = LogFilter(flow_run_id=LogFilterFlowRunId(any_=run_ids))
        if since is not None:
            # Prefect types this field as its pendulum DateTime; pydantic validates any aware datetime into one.
            log_filter.timestamp = LogFilterTimestamp(after_=since)  # type: ignore[arg-type]
        logs, artifacts = await asyncio.gather(
            read_all(
                lambda offset: self.client.read_logs(
                    log_filter=log_filter, sort=LogSort.TIMESTAMP_ASC, limit=PAGE, offset=offset
                )
            ),
            self._artifacts(run_ids, everything=since is None),
        )
        for line in logs:
            feeds[line.flow_run_id].timeline.add([log_fact(line)])  # type: ignore[index]
        for artifact in artifacts:
            feed = feeds[artifact.flow_run_id]  # type: ignore[index]
            if failure_of(artifact) is not None:
                feed.errors[artifact.flow_run_id] = [artifact]  # type: ignore[index]
            fact = progress_fact(artifact)
            if fact and feed.progress_seen.get(artifact.id) != fact.at:
                feed.progress_seen[artifact.id] = fact.at
                feed.timeline.add([fact])

    async def _artifacts(self, run_ids: list[UUID], *, everything: bool) -> list[Artifact]:
        def page(offset: int) -> Awaitable[list[Artifact]]:
            return self.client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=run_ids)),
                sort=ArtifactSort.UPDATED_DESC,
                limit=PAGE,
                offset=offset,
            )

        # While jobs run, the newest updates are all a tick needs.
        return await read_all(page) if everything else await page(0)

    # Turning facts into events.

    def _commit(self, feed: Feed, polled_at: datetime) -> None:
        timeline = feed.timeline
        for run in feed.runs.values():
            if run.state and run.state.is_final() and run.id not in timeline.outcomes:
                timeline.outcomes[run.id] = self._outcome(feed, run)
                self.ended(feed.job_id)
        horizon = self._horizon(feed, polled_at)
        events = timeline.commit(horizon)
        if events:
            for subscriber in list(feed.subscribers):
                subscriber.offer(events)
                if subscriber.dropped:
                    log.warning(
                        "job %s: dropped a client more than %d events behind",
                        feed.job_id,
                        settings.events_client_buffer,
                    )
                    self.unsubscribe(feed, subscriber)

    def _horizon(self, feed: Feed, polled_at: datetime) -> datetime:
        """How far the feed's facts can be committed, and a warning when something holds it far back."""
        settle = timedelta(seconds=settings.events_settle_seconds)
        holds = {"the settle delay": polled_at - settle}
        if not self._trusts_stream(feed):
            # Without the stream's word, a job's run states are what the last full poll read.
            holds["the full poll"] = feed.states_read_at - settle
        if feed.held_from is not None:
            holds["a new attempt"] = feed.held_from - timedelta(microseconds=1)
        # An event is received after its state's own time, so nothing it tells can come earlier. One that
        # has not come within `STAGE_WAIT` holds nothing more: a stream must not wait forever on it.
        awaited = {state_id: at for state_id, at in feed.awaited.items() if polled_at - at < STAGE_WAIT}
        if awaited:
            holds[f"stage states untold ({', '.join(map(str, awaited))})"] = min(awaited.values()) - timedelta(
                microseconds=1
            )
        unplaced = feed.timeline.first_line_of_unknown_stage()
        if unplaced is not None and polled_at - unplaced < STAGE_WAIT:
            holds["a log line's task run"] = unplaced - timedelta(microseconds=1)
        if not self._covered(feed) and feed.events_read_at is not None:
            holds["the stored stage events"] = feed.events_read_at - RECORDED_WITHIN
        reason, horizon = min(holds.items(), key=lambda hold: hold[1])
        behind = (polled_at - horizon).total_seconds()
        if behind > HELD_WARNING_SECONDS and reason not in feed.warned:
            feed.warned.add(reason)
            log.warning("job %s: its events are held %.0f s behind, waiting for %s", feed.job_id, behind, reason)
        return horizon

    def _outcome(self, feed: Feed, run: FlowRun) -> Outcome:
        job_id = feed.job_id
        if run.state and run.state.is_completed():
            return Outcome(artifacts=list_outputs(job_id))
        return Outcome(error=error_of(run, feed.errors.get(run.id, [])), can_resume=bool(reusable_stages(job_id)))

    def _forget_idle(self) -> None:
        now = time.monotonic()
        for job_id, feed in list(self.feeds.items()):
            if feed.idle_since is not None and now - feed.idle_since > settings.events_keep_seconds:
                del self.feeds[job_id]
                for run_id in feed.runs:
                    self._feed_of_run.pop(run_id, None)
                    self._active.pop(run_id, None)
        if not self.feeds:
            self._watching.clear()
