"""The fold from Prefect records to events, and the ETA's fit, on facts made by hand (no server needed)."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from prefect.client.schemas.objects import StateType

from api.events.eta import EtaModel
from api.events.facts import FlowState, LogLine, Progress, RunEnd, TaskState
from api.events.timeline import ORIGIN, EventId, Timeline
from api.settings import settings
from tests.utils.factories import make_request

START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
RUN = uuid4()


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def timeline() -> Timeline:
    line = Timeline("job-1", make_request(), START, EtaModel)
    line.register_run(RUN, 1)
    return line


def progress(seconds: float, stage: str, artifact: object, current: int, total: int, message: str) -> Progress:
    return Progress(
        at(seconds),
        RUN,
        ref=f"{stage}-{current}",
        stage=stage,
        artifact_id=artifact,
        stage_percent=100 * current / total,
        current_item=current,
        total_items=total,
        message=message,
    )


def story() -> list:
    render = uuid4()
    return [
        FlowState(at(0.0), RUN, ref="f1", type=StateType.RUNNING, name="Running", message=""),
        TaskState(at(0.1), RUN, ref="t1", stage="render", status="started", occurred=at(0.1)),
        progress(0.5, "render", render, 4, 10, "second 4 of 10"),
        LogLine(at(0.6), RUN, ref="l1", timestamp=at(0.2), level=20, task_run_id=None, message="render started"),
        progress(0.9, "render", render, 9, 10, "second 9 of 10"),
        TaskState(at(1.0), RUN, ref="t2", stage="render", status="completed", occurred=at(1.0)),
        FlowState(at(1.1), RUN, ref="f2", type=StateType.COMPLETED, name="Completed", message=""),
        RunEnd(at(4.1), RUN, ref="end", type=StateType.COMPLETED, ended_at=at(1.1), started_at=at(0.0)),
    ]


def test_facts_told_in_any_order_and_batches_get_the_same_ids() -> None:
    facts = story()
    one, two = timeline(), timeline()
    one.add(facts)
    one.commit(at(10))
    two.add(reversed(facts[4:]))
    two.commit(at(0.3))
    two.add(facts[:4])
    two.commit(at(10))

    ids = [event.id for event in one.events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert [(e.id, type(e.data).__name__) for e in one.events if type(e.data).__name__ != "StepProgressEvent"] == [
        (e.id, type(e.data).__name__) for e in two.events if type(e.data).__name__ != "StepProgressEvent"
    ]
    assert one.events[-1].final and one.is_last_word(one.events[-1])


def test_a_log_line_stored_after_the_ends_grace_follows_the_last_word_and_the_job_has_still_ended() -> None:
    line = timeline()
    late = LogLine(at(4.2), RUN, ref="late", timestamp=at(4.15), level=20, task_run_id=None, message="bye")
    line.add([*story(), late])
    line.commit(at(3))
    assert not line.ended

    line.commit(at(10))
    assert line.events[-1].name == "job-log" and line.ended
    assert [event.name for event in line.events if line.is_last_word(event)] == ["job-completed"]


def test_a_log_line_stored_twice_is_sent_once_where_it_was_first_stored_whatever_the_reading_order() -> None:
    first = LogLine(at(1), RUN, ref="log:same", timestamp=at(0.5), level=20, task_run_id=None, message="hello")
    again = LogLine(at(4), RUN, ref="log:same", timestamp=at(0.5), level=20, task_run_id=None, message="hello")
    live, replay = timeline(), timeline()
    live.add([first])
    live.commit(at(2))
    live.add([again])
    live.commit(at(10))
    replay.add([again, first])
    replay.commit(at(10))
    assert [event.id for event in live.events] == [event.id for event in replay.events]
    assert sum(type(event.data).__name__ == "JobLogEvent" for event in live.events) == 1


def test_a_replay_keeps_each_stages_latest_progress_and_percent_never_falls() -> None:
    line = timeline()
    line.add(story())
    line.commit(at(10))
    progress = [event.data for event in line.events if type(event.data).__name__ == "StepProgressEvent"]
    assert [(p.current_item, p.total_items) for p in progress] == [(9, 10)]
    percents = [event.status.percent for event in line.events]
    assert percents == sorted(percents) and percents[-1] == 100.0
    assert line.status_at(ORIGIN).status == "queued"
    assert line.status_at(EventId.parse(str(line.events[1].id))).status == "running"
    assert line.ended_by(line.events[-1].id) and not line.ended_by(line.events[-2].id)


def test_a_stage_without_progress_gets_one_stall_warning_at_the_right_time() -> None:
    line = timeline()
    line.add(story()[:4])
    line.commit(at(settings.stall_seconds + 5))
    stalls = [event for event in line.events if getattr(event.data, "kind", None) == "stall"]
    assert len(stalls) == 1
    assert stalls[0].data.timestamp == at(0.5 + settings.stall_seconds)
    assert stalls[0].data.step == "render" and stalls[0].data.log_tail == ["INFO render started"]
    line.commit(at(settings.stall_seconds * 3))
    assert len([event for event in line.events if getattr(event.data, "kind", None) == "stall"]) == 1


@pytest.mark.parametrize("how", ["crashed", "failed"])
def test_a_stage_a_cancel_stopped_is_reported_cancelled(how: str) -> None:
    """Killed with its process (crashed), or stopped by its own check of the cancel (failed with JobCancelled)."""
    line = timeline()
    line.add(
        story()[:2]
        + [
            FlowState(at(0.2), RUN, ref="f3", type=StateType.CANCELLING, name="Cancelling", message=""),
            TaskState(at(0.3), RUN, ref="t3", stage="render", status=how, occurred=at(0.3)),
        ]
    )
    line.commit(at(10))
    assert line.events[-1].data.status == "cancelled" and line.status == "cancelling"


def test_malformed_and_foreign_ids_are_refused() -> None:
    line = timeline()
    for text in ("", "abc", "1-2-3", "-1-1", "9" * 30 + "-0"):
        assert EventId.parse(text) is None
    assert not line.valid_cursor(EventId(1000, 0), at(10)), "before the job"
    assert not line.valid_cursor(EventId.parse("99999999999999999-0"), at(10)), "the future"
    assert line.valid_cursor(ORIGIN, at(10)) and line.valid_cursor(EventId(int(at(1).timestamp() * 1e6)), at(10))


def test_voice_and_visuals_side_by_side_each_report_progress_and_percent_never_falls() -> None:
    voice, visuals = uuid4(), uuid4()

    def progress(seconds: float, stage: str, artifact: object, percent: float) -> Progress:
        return Progress(
            at(seconds),
            RUN,
            ref=f"{stage}-{percent}",
            stage=stage,
            artifact_id=artifact,
            stage_percent=percent,
            current_item=int(percent),
            total_items=100,
            message=f"{stage} {percent}",
        )

    line = timeline()
    line.add(
        [
            FlowState(at(0.0), RUN, ref="f1", type=StateType.RUNNING, name="Running", message=""),
            TaskState(at(0.1), RUN, ref="t1", stage="script", status="completed", occurred=at(0.1)),
            TaskState(at(0.2), RUN, ref="t2", stage="voice", status="started", occurred=at(0.2)),
            TaskState(at(0.3), RUN, ref="t3", stage="visuals", status="started", occurred=at(0.3)),
            progress(0.5, "voice", voice, 50),
            progress(0.6, "visuals", visuals, 20),
            progress(0.9, "visuals", visuals, 100),
            TaskState(at(1.0), RUN, ref="t4", stage="visuals", status="completed", occurred=at(1.0)),
            progress(1.5, "voice", voice, 80),
        ]
    )
    # As a client streaming live sees it: one commit per poll.
    live = [event for seconds in (0.55, 0.65, 0.95, 1.2, 10) for event in line.commit(at(seconds))]
    seen = [(e.data.step, e.data.percent) for e in live if type(e.data).__name__ == "StepProgressEvent"]
    # brief and script (25) are done once voice starts; voice weighs 30, visuals 25.
    assert seen == [("voice", 40.0), ("visuals", 45.0), ("visuals", 65.0), ("voice", 74.0)]
    percents = [event.status.percent for event in line.events]
    assert percents == sorted(percents)
    assert line.running == ["voice"] and line.eta is not None and line.eta > 0


def test_progress_stored_before_prefect_received_its_stages_start_follows_the_start_live_and_in_a_replay() -> None:
    """eSpeak NG spoke the whole narration before the voice stage's start reached Prefect (states go over
    a websocket that can lag, progress over HTTP): the stage's progress is not lost, and comes after it."""
    voice = uuid4()
    facts = [
        FlowState(at(0.0), RUN, ref="f1", type=StateType.RUNNING, name="Running", message=""),
        progress(0.3, "voice", voice, 6, 6, "sentence 6 of 6"),
        LogLine(at(0.4), RUN, ref="l1", timestamp=at(0.1), level=20, task_run_id=None, message="voice started"),
        TaskState(at(0.6), RUN, ref="t1", stage="voice", status="started", occurred=at(0.1)),
        TaskState(at(0.7), RUN, ref="t2", stage="voice", status="completed", occurred=at(0.35)),
    ]
    live = timeline()
    live.add(facts[:3])
    live.commit(at(0.5))  # the start not heard yet
    live.add(facts[3:])
    live.commit(at(10))
    replay = timeline()
    replay.add(facts)
    replay.commit(at(10))
    for line in (live, replay):
        names = [(event.name, getattr(event.data, "status", None)) for event in line.events]
        assert names[-3:] == [("step-status", "started"), ("step-progress", None), ("step-status", "completed")]
    assert [(event.id, event.data) for event in live.events] == [(event.id, event.data) for event in replay.events]
