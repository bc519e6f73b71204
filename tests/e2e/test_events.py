"""The SSE stream of a job, read over HTTP with a real SSE client, from a real Prefect server and worker.

Progress events are a gauge, not a log: Prefect keeps only each stage's newest
progress, so a replay carries the latest `step-progress` of each stage while a
live client saw every tick. Everything else (states, stages, log lines,
warnings, the end) is compared event for event, ids included, but for the
ETA: a forecast made with the history each API process had learned then.
"""

import os
import signal
import threading
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from blocks import ChatScriptWriter
from flows.contract.stages import STAGES, STEPS, done_before
from tests.utils.chat import ChatStandIn
from tests.utils.factories import wait_for
from tests.utils.service import ffmpeg_of, http, job, pool_paused, submit
from tests.utils.sse import Received, durable, raw_stream, read_events
from tests.utils.stack import ApiProcess

pytestmark = pytest.mark.slow
MEDIUM = {"plan": {"targetDurationSeconds": 40}, "render": {"width": 1280}}
PIPER = {"render": {"width": 320}, "voice": {"engine": "piper"}}


@pytest.fixture(scope="module")
def twin(service: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    """A second API process with the same settings, as behind a load balancer."""
    with ApiProcess(tmp_path_factory.mktemp("twin") / "api.log") as api:
        yield api


@pytest.fixture(scope="module")
def quick(service: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    """An API process that pings after 1 s idle and calls a stage stalled after 3 s without progress."""
    with ApiProcess(
        tmp_path_factory.mktemp("quick") / "api.log", AURA_EVENTS_PING_SECONDS="1", AURA_STALL_SECONDS="3"
    ) as api:
        yield api


def events_url(api: Any, job_id: str) -> str:
    return f"{api.url}/api/jobs/{job_id}/events"


def of(events: list[Received], name: str, **fields: Any) -> list[Received]:
    return [
        event
        for event in events
        if event.event == name and all(event.data.get(key) == value for key, value in fields.items())
    ]


class Listener(threading.Thread):
    """A client reading a whole stream in the background; `events` grows as they arrive."""

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(daemon=True)
        self.url, self.options = url, options
        self.events: list[Received] = []

    def run(self) -> None:
        read_events(self.url, received=self.events, **self.options)


def test_a_jobs_stream_tells_its_whole_story_in_order(service: Any) -> None:
    job_id = submit(service, "Whole story")
    events = read_events(events_url(service, job_id))

    first = events[0]
    assert (first.event, first.id, first.data["status"], first.data["jobId"]) == ("job-status", "0-0", "queued", job_id)
    keys = [event.key for event in events]
    assert keys == sorted(keys) and len(set(keys)) == len(keys), "ids must increase strictly"
    assert [event.data["status"] for event in of(events, "job-status")] == ["queued", "running", "completed"]
    steps = [(event.data["step"], event.data["status"]) for event in of(events, "step-status")]
    assert sorted(steps) == sorted((stage, status) for stage in STAGES for status in ("started", "completed"))
    for step in STEPS:
        # A step's stages (voice and visuals side by side) start after the step before it ends.
        began = min(steps.index((stage, "started")) for stage in step)
        ended = max(steps.index((stage, "completed")) for stage in step)
        assert all(steps.index((stage, "started")) < steps.index((stage, "completed")) for stage in step)
        assert all(steps.index((stage, "completed")) < began for stage in done_before(step[0]))
        assert ended == began + 2 * len(step) - 1, f"nothing of another step happens during {step}"
    assert all(event.data["durationSeconds"] >= 0 for event in of(events, "step-status", status="completed"))
    logs = of(events, "job-log")
    assert any(line.data["step"] == "render" and "render started" in line.data["message"] for line in logs)
    assert not any(line.data["message"].startswith("job=") for line in logs), "the job/correlation prefix is dropped"

    percents = [event.data["percent"] for event in events if "percent" in event.data]
    assert percents == sorted(percents) and percents[-1] == 100.0
    voice = of(events, "step-progress", step="voice")[-1].data
    assert voice["currentItem"] == voice["totalItems"] > 0 and voice["stepPercent"] == 100.0
    running = of(events, "job-status", status="running")[0].data
    assert running["etaSeconds"] is not None and 1 <= running["etaSeconds"] <= 7200

    last = events[-1]
    assert last.event == "job-completed", "the stream ends with the terminal event"
    assert last.data["artifacts"] == job(service, job_id)["artifacts"]
    assert {item["name"] for item in last.data["artifacts"]} >= {"video.mp4", "video.srt", "thumbnail.jpg"}
    assert last.data["durationSeconds"] > 0


def test_a_client_reconnecting_to_a_restarted_api_process_misses_nothing_and_repeats_nothing(
    service: Any, twin: ApiProcess
) -> None:
    job_id = submit(service, "Twins", shape=MEDIUM)
    one = Listener(events_url(service, job_id))
    one.start()
    before = read_events(events_url(twin, job_id), stop_after=20)
    twin.restart()
    after = read_events(events_url(twin, job_id), last_event_id=before[-1].id)
    one.join(timeout=120)

    assert after[0].event == "job-status" and after[0].id == before[-1].id, "the snapshot stands at the client's place"
    keys = [event.key for event in before + after[1:]]
    assert all(earlier < later for earlier, later in pairwise(keys)), "no event twice, none out of order"
    assert one.events[-1].event == "job-completed" and after[-1].event == "job-completed"
    assert durable(before + after[1:]) == durable(one.events)
    assert durable(read_events(events_url(twin, job_id))) == durable(one.events)
    # The query parameter does the same as the header.
    by_query = read_events(events_url(twin, job_id), params={"lastEventId": before[-1].id})
    assert durable(by_query[1:]) == durable(after[1:])


def test_an_idle_stream_is_kept_open_with_pings(service: Any, quick: ApiProcess) -> None:
    with pool_paused():
        waiting = submit(service, "Waits in the queue")
        lines = raw_stream(events_url(quick, waiting), seconds=3.5)
        http.post(f"{service.url}/api/jobs/{waiting}/cancel")
    assert lines[0] == "id: 0-0" and "retry: 3000" in lines
    assert lines.count(": ping") >= 2


def test_a_stalled_render_is_reported_then_stopped_by_the_watchdog(service: Any, quick: ApiProcess) -> None:
    job_id = submit(service, "Stalls", shape=MEDIUM)
    stream = Listener(events_url(quick, job_id))
    stream.start()
    pids = wait_for(lambda: ffmpeg_of(job_id), timeout=120, what="FFmpeg rendering the job")
    # From the stream, not the job's body (read from a copy refreshed every second): a render of a few
    # seconds could end before the body said it had moved (a CI run's did, in 4.2 s).
    wait_for(lambda: of(stream.events, "step-progress", step="render"), timeout=60, interval=0.1, what="the render")
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    stream.join(timeout=200)
    events = stream.events

    stall = of(events, "warning", kind="stall")[0].data
    assert stall["step"] == "render" and stall["stallSeconds"] == 3
    assert stall["logTail"] and "no progress in render" in stall["message"]
    after_stall = events[events.index(of(events, "warning", kind="stall")[0]) :]
    assert of(after_stall, "step-status", step="render", status="retrying"), "the watchdog failed the stage"
    assert any("no progress for 15 s" in line.data["message"] for line in of(after_stall, "job-log"))
    assert of(after_stall, "step-status", step="render", status="completed")
    assert events[-1].event == "job-completed"


def counts(api: Any) -> dict[tuple[str, str], float]:
    """The `_count` of each histogram in `GET /metrics`, by name and stage."""
    families = text_string_to_metric_families(http.get(f"{api.url}/metrics").text)
    return {
        (sample.name, sample.labels.get("stage", "")): sample.value
        for family in families
        for sample in family.samples
        if sample.name.endswith("_count")
    }


def test_a_cancelled_job_ends_its_stream_and_a_retry_resumes_it(quick: ApiProcess) -> None:
    # Through an API process no other test submits to: its metrics count this job alone.
    before = counts(quick)
    job_id = submit(quick, "Cancelled", shape=MEDIUM)
    stream = Listener(events_url(quick, job_id))
    stream.start()
    wait_for(lambda: ffmpeg_of(job_id), timeout=120, what="FFmpeg rendering the job")
    assert http.post(f"{quick.url}/api/jobs/{job_id}/cancel").status_code == 202
    stream.join(timeout=60)
    events = stream.events
    assert [event.data["status"] for event in of(events, "job-status")][-2:] == ["cancelling", "cancelled"]
    assert of(events, "step-status", step="render", status="cancelled")
    assert events[-1].event == "job-cancelled" and events[-1].data["stage"] == "render"

    last_id = events[-1].id
    assert http.get(events_url(quick, job_id), headers={"Last-Event-ID": last_id}).status_code == 204
    assert http.post(f"{quick.url}/api/jobs/{job_id}/retry").status_code == 202
    resumed = read_events(events_url(quick, job_id), last_event_id=last_id)
    statuses = of(resumed, "job-status")
    assert statuses[0].data["status"] == "cancelled"
    assert (statuses[1].data["status"], statuses[1].data["attempt"], statuses[1].data["percent"]) == ("queued", 2, 0.0)
    cached = [event.data["step"] for event in of(resumed, "step-status", status="cached")]
    assert cached[0] == "script" and sorted(cached[1:]) == ["visuals", "voice"]
    assert resumed[-1].event == "job-completed"

    # Metrics: one cancel, timed; each stage's run counted once, in the attempt that ran it, not reused.
    def added(name: str, stage: str = "") -> float:
        return counts(quick).get((name, stage), 0.0) - before.get((name, stage), 0.0)

    wait_for(lambda: added("aura_stage_duration_seconds_count", "finalize") == 1, timeout=30, what="stage times")
    assert added("aura_cancel_stop_seconds_count") == 1
    assert [added("aura_stage_duration_seconds_count", stage) for stage in ("script", "visuals", "render")] == [1, 1, 1]


def test_a_cancel_while_piper_speaks_stops_it_at_once_and_a_retry_keeps_the_visuals_drawn_beside_it(
    service: Any,
) -> None:
    # A minute and a half of speech: Piper takes seconds to say them, long enough to be caught at it.
    job_id = submit(service, "Cancelled mid-sentence", shape={**PIPER, "plan": {"targetDurationSeconds": 90}})
    stream = Listener(events_url(service, job_id))
    stream.start()
    pid = wait_for(lambda: placement_pid(stream.events), timeout=120, what="the attempt's pid in its log")
    wait_for(
        lambda: [e for e in of(stream.events, "step-progress", step="voice") if e.data["currentItem"] >= 1],
        timeout=120,
        interval=0.2,
        what="Piper past its first sentence",
    )
    answer = http.post(f"{service.url}/api/jobs/{job_id}/cancel")
    assert answer.status_code == 202, answer.text
    stream.join(timeout=60)
    events = stream.events
    assert events[-1].event == "job-cancelled"
    assert of(events, "step-status", step="voice", status="cancelled")
    assert of(events, "step-status", step="visuals", status="completed"), "the slides were drawn meanwhile"
    assert not of(events, "step-status", step="voice", status="completed")
    wait_for(lambda: not alive(pid), timeout=20, what=f"the flow-run process {pid} to end")

    assert http.post(f"{service.url}/api/jobs/{job_id}/retry").status_code == 202
    resumed = read_events(events_url(service, job_id), last_event_id=events[-1].id)
    assert [event.data["step"] for event in of(resumed, "step-status", status="cached")] == ["script", "visuals"]
    assert of(resumed, "step-status", step="voice", status="completed") and resumed[-1].event == "job-completed"


def placement_pid(events: list[Received]) -> int | None:
    """The pid the attempt's first log line names ("attempt 1 on worker …, pid N")."""
    for line in of(events, "job-log"):
        if "attempt 1 on worker" in line.data["message"]:
            return int(line.data["message"].rsplit("pid ", 1)[1].split()[0])
    return None


def alive(pid: int) -> bool:
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("chat_server", [[503] * 4], indirect=True)
def test_a_failing_stage_shows_its_retries_then_the_failure(service: Any, chat_server: ChatStandIn) -> None:
    ChatScriptWriter(base_url=chat_server.base_url, model="stand-in", timeout_seconds=5).save("down", overwrite=True)
    job_id = submit(
        service,
        "Fails",
        shape={"plan": {"targetDurationSeconds": 6}, "render": {"width": 320}, "providers": {"script": "down"}},
    )
    events = read_events(events_url(service, job_id))

    script = [event.data["status"] for event in of(events, "step-status", step="script")]
    assert script == ["started", "retrying", "started", "retrying", "started", "retrying", "started", "failed"]
    assert len(of(events, "warning", kind="retry")) == 3
    end = events[-1]
    assert end.event == "job-failed"
    assert end.data["error"]["code"] == "E503-PROVIDER_UNAVAILABLE" and end.data["error"]["stage"] == "script"
    assert end.data["canRetry"] is True and end.data["error"]["suggestedActions"]


def test_fifty_clients_of_one_job_cost_prefect_no_more_than_one(service: Any, quick: ApiProcess) -> None:
    # A job kept queued: its streams stay open (pinged every second) however long a loaded machine takes,
    # where a running job could end before fifty clients had connected.
    listeners: list[Listener] = []

    def stats() -> dict[str, Any]:
        return http.get(f"{quick.url}/api/events/stats").json()

    def requests_per_tick(clients: int) -> float:
        added = [Listener(events_url(quick, job_id)) for _ in range(clients)]
        for listener in added:
            listener.start()
        listeners.extend(added)
        wait_for(lambda: stats()["subscribers"] >= len(listeners), timeout=90, what=f"{len(listeners)} subscribers")
        start = stats()
        end = wait_for(
            lambda: later if (later := stats())["ticks"] >= start["ticks"] + 8 else None,
            timeout=30,
            what="eight more poll ticks",
        )
        return (end["prefectRequests"] - start["prefectRequests"]) / (end["ticks"] - start["ticks"])

    with pool_paused():
        job_id = submit(service, "Popular")
        one, fifty = requests_per_tick(1), requests_per_tick(50)
        http.post(f"{service.url}/api/jobs/{job_id}/cancel")
    for listener in listeners:
        listener.join(timeout=30)
    assert all(listener.events[-1].event == "job-cancelled" for listener in listeners)
    assert fifty <= one * 1.5 + 0.5, (one, fifty)


def test_bad_stream_requests_get_problems_or_a_fresh_start(service: Any) -> None:
    missing = http.get(f"{service.url}/api/jobs/00000000-0000-4000-8000-000000000000/events")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    assert http.get(f"{service.url}/api/jobs/not-a-job/events").status_code == 404

    job_id = submit(service, "Bad ids")
    done = read_events(events_url(service, job_id))
    for bad in ("garbage", "99999999999999999-0", "1000-0", "-1-1", "1-2-3", "x" * 99):
        events = read_events(events_url(service, job_id), last_event_id=bad)
        assert events[0].id == "0-0" and events[1].event == "warning" and events[1].data["kind"] == "replay", bad
        assert durable(events) == durable(done), bad
    too_long = http.get(events_url(service, job_id), headers={"Last-Event-ID": "1" * 200})
    assert too_long.status_code == 422 and too_long.headers["content-type"] == "application/problem+json"
