"""The poller on recorded Prefect data: what a tick reads becomes the job's events, in order, once."""

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import FlowRun, State, StateType, TaskRun
from prefect.events.schemas.events import ReceivedEvent

from api.events import poller as poller_module
from api.events.poller import Feed, Poller, Subscriber
from api.events.timeline import Emitted
from api.jobs.errors import JobNotFound
from api.prefect_client import RequestCounter
from api.settings import settings
from flows.contract.artifacts import JobFailure
from tests.utils.factories import new_job_id
from tests.utils.recorded import RecordedPrefect
from tests.utils.records import failure_artifact, in_state, job_run, log_line, progress_artifact, stage_run, state

pytestmark = pytest.mark.anyio


def ago(seconds: float) -> datetime:
    """A record's time: older than the settle delay and the end grace, and inside the log lookback where it must be."""
    return datetime.now(UTC) - timedelta(seconds=seconds)


def poller_over(prefect: RecordedPrefect, ended: list[str] | None = None) -> Poller:
    return Poller(cast(PrefectClient, prefect), RequestCounter(), ended=(ended if ended is not None else []).append)


def drain(subscriber: Subscriber) -> list[Emitted]:
    events = []
    while not subscriber.queue.empty():
        event = subscriber.queue.get_nowait()
        assert event is not None, "the client was not dropped"
        events.append(event)
    return events


async def hear_from_stream(poller: Poller, prefect: RecordedPrefect, told: State) -> None:
    """The poller hears the state's event on Prefect's stream, as Prefect received it."""
    [heard] = [event for event in (await prefect.read_events(limit=50)).events if event.id == told.id]
    poller.hear(heard)


async def watching(prefect: RecordedPrefect, job_id: str) -> tuple[Poller, Feed, Subscriber]:
    """A poller whose event stream has long been up, watching the job, with one client."""
    poller = poller_over(prefect)
    poller.listening_since = ago(120)
    feed = await poller.watch(job_id)
    return poller, feed, poller.subscribe(feed)


async def replayed(prefect: RecordedPrefect, job_id: str) -> list[Emitted]:
    """The job's events as a second API process, watching it only now, gives them."""
    other = poller_over(prefect)
    other.listening_since = ago(120)
    return (await other.watch(job_id)).timeline.events


def started_job(prefect: RecordedPrefect) -> tuple[str, list[State], FlowRun]:
    """A job a minute into its run: the first stages done, `voice` after one retry."""
    job_id = new_job_id()
    history = [
        state(StateType.SCHEDULED, ago(60)),
        state(StateType.PENDING, ago(59)),
        state(StateType.RUNNING, ago(58)),
    ]
    run = job_run(job_id, history, correlation_id="c-9")
    prefect.add_flow_run(run, history)
    for stage, began, ended in (("brief", 57.8, 57.5), ("script", 57.4, 50.0)):
        task = stage_run(run, stage, [state(StateType.RUNNING, ago(began)), state(StateType.COMPLETED, ago(ended))])
        prefect.add_task_run(task)
    voice = [
        state(StateType.RUNNING, ago(49)),
        state(StateType.SCHEDULED, ago(48), name="AwaitingRetry"),
        state(StateType.RUNNING, ago(45), name="Retrying"),
        state(StateType.COMPLETED, ago(40)),
    ]
    prefect.add_task_run(stage_run(run, "voice", voice), voice)
    prefect.add_logs(log_line(run, f"job={job_id} correlation=c-9 | voice started", at=ago(49), stored=ago(47)))
    return job_id, history, run


async def test_one_tick_turns_whats_new_in_prefect_into_the_jobs_next_events_in_order() -> None:
    prefect = RecordedPrefect()
    job_id, history, run = started_job(prefect)
    ended: list[str] = []
    poller = poller_over(prefect, ended)
    feed = await poller.watch(job_id)
    assert feed.owner == "alice"
    before = [event.name for event in feed.timeline.events]
    assert before[0] == "job-status" and feed.timeline.events[0].data.status == "running"  # type: ignore[attr-defined]
    assert ("step-status", "retrying") in [(e.name, getattr(e.data, "status", None)) for e in feed.timeline.events]
    subscriber = poller.subscribe(feed)

    # The render ran and the job completed since the feed was read.
    render_states = [state(StateType.RUNNING, ago(10)), state(StateType.COMPLETED, ago(6))]
    render = stage_run(run, "render", render_states)
    prefect.add_task_run(render, render_states)
    prefect.add_artifacts(
        progress_artifact(run, "render", 50, created=ago(10), updated=ago(8), current=5, total=10, message="5 of 10")
    )
    prefect.add_logs(
        log_line(run, f"job={job_id} correlation=c-9 | render half done", at=ago(7.5), stored=ago(7), task_run=render)
    )
    completed = state(StateType.COMPLETED, ago(5))
    prefect.add_flow_run(in_state(run, completed), [*history, completed])
    await poller.tick()

    events = drain(subscriber)
    assert [(event.name, getattr(event.data, "status", None)) for event in events] == [
        ("step-status", "started"),
        ("step-progress", None),
        ("job-log", None),
        ("step-status", "completed"),
        ("job-status", "completed"),
        ("job-completed", "completed"),
    ]
    ids = [event.id for event in feed.timeline.events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids), "ids strictly increase"
    assert events[0].id > feed.timeline.events[len(before) - 1].id
    progress, log = events[1].data, events[2].data
    assert (progress.step, progress.step_percent, progress.current_item) == ("render", 50.0, 5)  # type: ignore[attr-defined]
    assert (log.step, log.message, log.level) == ("render", "render half done", "INFO")  # type: ignore[attr-defined]
    assert events[4].data.percent == 100.0  # type: ignore[attr-defined]
    assert events[-1].final and feed.timeline.is_last_word(events[-1])
    assert ended == [job_id], "the jobs copy hears of the end before the clients do"

    await poller.tick()
    assert drain(subscriber) == [], "nothing new, nothing sent"
    assert len(feed.timeline.events) == len(before) + len(events)


async def test_a_failed_attempts_last_event_carries_the_recorded_failure() -> None:
    prefect = RecordedPrefect()
    job_id, history, run = started_job(prefect)
    poller = poller_over(prefect)
    feed = await poller.watch(job_id)
    subscriber = poller.subscribe(feed)
    failure = JobFailure(
        code="E304-FFMPEG_RUNTIME", stage="render", message="ffmpeg exited with 1", suggested_actions=[], log_tail=""
    )
    failed = state(StateType.FAILED, ago(5), message="Flow run encountered an exception")
    prefect.add_flow_run(in_state(run, failed), [*history, failed])
    prefect.add_artifacts(failure_artifact(run, failure, at=ago(5.5)))
    await poller.tick()
    last = drain(subscriber)[-1]
    assert last.name == "job-failed" and last.final
    assert last.data.error.code == "E304-FFMPEG_RUNTIME" and last.data.can_retry  # type: ignore[attr-defined]


async def test_a_tick_asks_prefect_once_per_kind_however_many_jobs_and_clients() -> None:
    prefect = RecordedPrefect()
    jobs = [started_job(prefect)[0] for _ in range(3)]
    poller = poller_over(prefect)
    poller.listening_since = ago(120)  # Prefect's stream up: stored stage events are read only at first
    for job_id in jobs:
        feed = await poller.watch(job_id)
        for _ in range(4):
            poller.subscribe(feed)
    prefect.calls.clear()
    await poller.tick()
    assert sorted(prefect.calls) == ["read_artifacts", "read_flow_runs", "read_logs", "read_task_runs"]


async def test_watching_a_job_prefect_does_not_have_is_not_found() -> None:
    poller = poller_over(RecordedPrefect())
    with pytest.raises(JobNotFound):
        await poller.watch(new_job_id())
    with pytest.raises(JobNotFound):
        await poller.watch("../etc")


async def test_a_process_listens_to_prefects_event_stream_only_while_it_watches_a_job(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    opened: list[asyncio.Queue[ReceivedEvent]] = []

    @asynccontextmanager
    async def stream(**_: Any) -> AsyncIterator[AsyncIterator[ReceivedEvent]]:
        queue: asyncio.Queue[ReceivedEvent] = asyncio.Queue()
        opened.append(queue)

        async def events() -> AsyncIterator[ReceivedEvent]:
            while True:
                yield await queue.get()

        yield events()

    monkeypatch.setattr(poller_module, "ReceivedEventSubscriber", stream)
    prefect = RecordedPrefect()
    job_id, _, run = started_job(prefect)
    poller = poller_over(prefect)
    running = asyncio.create_task(poller.run())
    try:
        await asyncio.sleep(0.1)
        assert opened == [] and poller.listening_since is None, "no job watched: not listening"
        feed = await poller.watch(job_id)
        await asyncio.sleep(0.1)
        assert len(opened) == 1 and poller.listening_since is not None

        feed.idle_since = time.monotonic() - settings.events_keep_seconds - 1
        await asyncio.sleep(settings.events_poll_seconds * 2)
        assert job_id not in poller.feeds
        opened[0].put_nowait(
            ReceivedEvent(
                event="prefect.flow-run.Running",
                resource={"prefect.resource.id": f"prefect.flow-run.{run.id}"},
                received=datetime.now(UTC),  # type: ignore[arg-type]
            )
        )
        await asyncio.sleep(0.1)
        assert len(opened) == 1 and poller.listening_since is None, "the last watch forgotten: the stream is left"
    finally:
        running.cancel()


async def test_a_stage_state_its_flow_process_sent_late_takes_the_same_place_in_every_api_process() -> None:
    """The render's start reached Prefect 0.7 s late (its flow process sent it again after a replica died),
    after a log line stored meanwhile had been sent: the live process and a later replay agree."""
    prefect = RecordedPrefect()
    job_id, _, run = started_job(prefect)
    live = poller_over(prefect)
    live.listening_since = ago(120)  # the stream has long been up
    feed = await live.watch(job_id)
    subscriber = live.subscribe(feed)

    started = ago(0.9)
    prefect.add_logs(log_line(run, f"job={job_id} correlation=c-9 | drawing done", at=ago(1.0), stored=ago(0.5)))
    await live.tick()
    assert [event.name for event in drain(subscriber)] == ["job-log"]

    render_states = [state(StateType.RUNNING, started)]
    late = (datetime.now(UTC) - started).total_seconds()
    prefect.add_task_run(stage_run(run, "render", render_states), render_states, late=late)
    await hear_from_stream(live, prefect, render_states[0])
    await asyncio.sleep(settings.events_settle_seconds)
    await live.tick()
    [render] = drain(subscriber)
    assert (render.name, render.data.status, render.data.timestamp) == ("step-status", "started", started)  # type: ignore[attr-defined]

    assert [(event.id, event.name) for event in await replayed(prefect, job_id)] == [
        (event.id, event.name) for event in feed.timeline.events
    ]


async def test_a_stage_state_a_task_run_shows_holds_the_job_until_its_event_is_told() -> None:
    """Prefect stores an event seconds after it records the state (its event persister flushes every
    5 s): a job first watched in between waits for the event rather than send what follows it first."""
    prefect = RecordedPrefect()
    job_id, _, run = started_job(prefect)
    render_states = [state(StateType.RUNNING, ago(2))]
    render = stage_run(run, "render", render_states)
    prefect.add_task_run(render, [])  # its state recorded, its event not stored yet
    prefect.add_logs(
        log_line(run, f"job={job_id} correlation=c-9 | render begun", at=ago(1.5), stored=ago(1), task_run=render)
    )
    poller = poller_over(prefect)
    poller.listening_since = ago(120)
    feed = await poller.watch(job_id)
    told = [event.name for event in feed.timeline.events]
    assert ("step-status", "started", "render") not in [
        (e.name, getattr(e.data, "status", None), getattr(e.data, "step", None)) for e in feed.timeline.events
    ]
    assert "render begun" not in [getattr(event.data, "message", None) for event in feed.timeline.events]
    subscriber = poller.subscribe(feed)

    prefect.add_task_run(render, render_states)  # the persister has flushed
    await poller.tick()
    assert [(event.name, getattr(event.data, "step", None)) for event in drain(subscriber)] == [
        ("step-status", "render"),
        ("job-log", "render"),
    ]
    assert len(feed.timeline.events) == len(told) + 2


async def test_a_stage_log_line_stored_before_its_task_run_is_known_names_its_step_live_and_in_a_replay() -> None:
    """A Prefect replica died while the flow process sent its task-run events, not its logs (they go
    on separate connections): the brief's first line is stored before the brief's task run exists."""
    prefect = RecordedPrefect()
    job_id, _, run = started_job(prefect)
    live, feed, subscriber = await watching(prefect, job_id)

    render_states = [state(StateType.RUNNING, ago(1.5))]
    render = stage_run(run, "render", render_states)
    prefect.add_logs(
        log_line(run, f"job={job_id} correlation=c-9 | render begun", at=ago(1.4), stored=ago(1.2), task_run=render)
    )
    await live.tick()
    assert drain(subscriber) == [], "the line waits for its task run"

    late = (datetime.now(UTC) - render_states[0].timestamp).total_seconds()
    prefect.add_task_run(render, render_states, late=late)  # the flow process sent its events again
    await hear_from_stream(live, prefect, render_states[0])
    await asyncio.sleep(settings.events_settle_seconds)
    await live.tick()
    assert [(event.name, getattr(event.data, "step", None)) for event in drain(subscriber)] == [
        ("job-log", "render"),
        ("step-status", "render"),
    ]

    assert [(event.id, event.data) for event in await replayed(prefect, job_id)] == [
        (event.id, event.data) for event in feed.timeline.events
    ]


def cancelled_mid_render(prefect: RecordedPrefect, seconds_ago: float) -> tuple[str, TaskRun, list[State]]:
    """A job cancelled mid-render `seconds_ago`: the render's task run shows Cancelled, whose event
    Prefect has not stored (yet)."""
    job_id, history, run = started_job(prefect)
    render_states = [state(StateType.RUNNING, ago(seconds_ago + 5)), state(StateType.CANCELLED, ago(seconds_ago))]
    render = stage_run(run, "render", render_states)
    prefect.add_task_run(render, render_states[:1])
    cancelled = state(StateType.CANCELLED, ago(seconds_ago - 0.5))
    prefect.add_flow_run(in_state(run, cancelled), [*history, cancelled])
    return job_id, render, render_states


async def test_a_stage_state_stored_after_its_attempt_ended_is_read_then_and_the_stream_goes_on() -> None:
    """A CI run's stream hung after a cancel: the cancelled stage's event was stored once its attempt
    had left the runs a full poll reads stored events of, and the job's events waited for it for good."""
    prefect = RecordedPrefect()
    job_id, render, render_states = cancelled_mid_render(prefect, seconds_ago=24)
    live, feed, subscriber = await watching(prefect, job_id)
    assert "job-cancelled" not in [event.name for event in feed.timeline.events], "the end waits for the render's"

    prefect.add_task_run(render, render_states)  # stored at last
    live._full_poll_at = float("-inf")
    await live.tick()
    told = [(event.name, getattr(event.data, "step", None)) for event in drain(subscriber)]
    assert ("step-status", "render") in told and told[-1] == ("job-cancelled", None), told
    assert [(event.id, event.data) for event in await replayed(prefect, job_id)] == [
        (event.id, event.data) for event in feed.timeline.events
    ]


async def test_a_stage_state_whose_event_never_comes_holds_the_stream_no_longer_than_the_stage_wait() -> None:
    prefect = RecordedPrefect()
    job_id, _, _ = cancelled_mid_render(prefect, seconds_ago=poller_module.STAGE_WAIT.total_seconds() + 1)
    _, feed, _ = await watching(prefect, job_id)
    assert feed.timeline.events[-1].name == "job-cancelled"
    assert [(event.id, event.data) for event in await replayed(prefect, job_id)] == [
        (event.id, event.data) for event in feed.timeline.events
    ]


async def test_a_full_poll_a_busy_prefect_is_slow_to_answer_does_not_hold_back_what_the_stream_told() -> None:
    """Fifty running jobs kept Prefect 25 s on one read of their runs: the stage states the stream told
    in the meantime go out on the next tick, not after that read."""
    prefect = RecordedPrefect()
    job_id, _, run = started_job(prefect)
    poller, feed, subscriber = await watching(prefect, job_id)
    answer_runs = prefect.read_flow_runs

    async def busy_read_flow_runs(**kwargs: Any) -> list[FlowRun]:
        await asyncio.sleep(30)
        return await answer_runs(**kwargs)

    prefect.read_flow_runs = busy_read_flow_runs  # type: ignore[method-assign]
    render_states = [state(StateType.RUNNING, ago(0.2))]
    prefect.add_task_run(stage_run(run, "render", render_states), render_states)
    await hear_from_stream(poller, prefect, render_states[0])
    await asyncio.sleep(settings.events_settle_seconds)
    async with asyncio.timeout(2):
        await poller.tick()
    assert [(event.name, getattr(event.data, "step", None)) for event in drain(subscriber)] == [
        ("step-status", "render")
    ]


def test_state_changes_bring_polls_forward_in_a_burst_then_at_the_polls_rate() -> None:
    """One job's stage changes come a few at a time and are polled for at once; many jobs' changes
    cost Prefect no more than `events_max_polls_per_second` polls a second."""
    poller = poller_over(RecordedPrefect())
    rate = settings.events_max_polls_per_second
    allowed = []
    for _ in range(int(rate) + 1):
        allowed.append(poller._next_poll_allowed() - time.monotonic())
        poller._last_tick_started = time.monotonic() - settings.events_min_poll_seconds
        poller._count_poll()
    assert all(wait <= 0.01 for wait in allowed[: int(rate)]), allowed
    assert allowed[int(rate)] == pytest.approx(1 / rate, abs=0.05), allowed


async def test_clients_opening_streams_at_once_read_each_job_from_prefect_once() -> None:
    prefect = RecordedPrefect()
    jobs = [started_job(prefect)[0] for _ in range(3)]
    poller = poller_over(prefect)
    feeds = await asyncio.gather(*(poller.watch(job_id) for job_id in jobs * 4))
    assert [feed.job_id for feed in feeds] == jobs * 4
    assert len({id(feed) for feed in feeds}) == 3, "one feed a job"
    assert prefect.calls.count("read_flow_runs") == 3, "each job read once"


async def test_a_job_that_ended_long_ago_is_not_read_again_while_the_stream_is_down() -> None:
    """Prefect has stored all of its stage events by then: a dashboard of finished jobs costs no reads a tick."""
    prefect = RecordedPrefect()
    job_id, history, run = started_job(prefect)
    completed = state(StateType.COMPLETED, ago(30))
    prefect.add_flow_run(in_state(run, completed), [*history, completed])
    poller = poller_over(prefect)  # Prefect's event stream is down: `listening_since` is None
    feed = await poller.watch(job_id)
    assert feed.timeline.ended
    prefect.calls.clear()
    await poller.tick()
    assert "read_events" not in prefect.calls
