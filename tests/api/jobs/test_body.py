"""The job and progress bodies, built from a job's flow runs and artifacts at an explicit `now`."""

from datetime import UTC, datetime, timedelta

import pytest
from prefect.client.schemas.objects import Artifact, FlowRun, State, StateType

from api.events.eta import EtaModel, StageTiming
from api.jobs.body import WORKER_LOST, error_of, job_public, progress_public
from api.jobs.queue_plan import Place
from api.jobs.runs import JobRuns
from api.schemas.jobs import JobPublic
from flows.contract.artifacts import JobFailure
from flows.contract.stages import STAGES
from tests.utils.factories import make_request, new_job_id
from tests.utils.records import failure_artifact, job_run, progress_artifact, state

START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
UI = "http://prefect.test"
FAILURE = JobFailure(
    code="E304-FFMPEG_RUNTIME",
    stage="render",
    message="ffmpeg exited with status 1",
    suggested_actions=["Read ffmpeg.log in the job's folder for the encoder's own message."],
    log_tail="Error while opening encoder",
)


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def body(runs: JobRuns, *, now: datetime | None = None, live_eta: float | None = None) -> JobPublic:
    return job_public(runs, ui=UI, eta_model=EtaModel(), live_eta=live_eta, now=now or at(100))


def one_attempt(*history: State, artifacts: list[Artifact] | None = None) -> tuple[FlowRun, JobRuns]:
    run = job_run(new_job_id(), list(history))
    return run, JobRuns([run], artifacts or [])


@pytest.mark.parametrize(
    ("kind", "name", "status"),
    [
        (StateType.SCHEDULED, None, "queued"),
        (StateType.SCHEDULED, "Late", "queued"),
        (StateType.PENDING, None, "queued"),
        (StateType.RUNNING, None, "running"),
        (StateType.PAUSED, None, "running"),
        (StateType.CANCELLING, None, "cancelling"),
        (StateType.COMPLETED, None, "completed"),
        (StateType.FAILED, None, "failed"),
        (StateType.CRASHED, None, "failed"),
        (StateType.CANCELLED, None, "cancelled"),
    ],
)
def test_the_job_status_maps_the_newest_attempts_prefect_state(kind: StateType, name: str | None, status: str) -> None:
    _, runs = one_attempt(state(StateType.SCHEDULED, at(0)), state(kind, at(10), name=name))
    assert body(runs).status == status


def test_percent_and_stage_come_from_the_progress_artifacts() -> None:
    run, runs = one_attempt(state(StateType.SCHEDULED, at(0)), state(StateType.RUNNING, at(1)))
    runs.artifacts = [
        progress_artifact(run, "voice", 100, created=at(2)),
        progress_artifact(run, "render", 50, created=at(30), current=5, total=10, message="second 5 of 10"),
    ]
    job = body(runs, now=at(41))
    assert (job.stage, job.percent) == ("render", 87.5), "5+20+30+25 done, half of render's 15"
    assert job.elapsed_seconds == 40.0
    assert job.started_at == at(1) and job.ended_at is None and job.completed_at is None
    progress = progress_public(runs, job)
    assert progress.current_step is not None
    assert (progress.current_step.name, progress.current_step.progress_pct) == ("render", 50.0)
    assert progress.message == "second 5 of 10"


def test_while_voice_and_visuals_run_side_by_side_the_one_still_at_work_is_shown() -> None:
    run, runs = one_attempt(state(StateType.SCHEDULED, at(0)), state(StateType.RUNNING, at(1)))
    runs.artifacts = [
        progress_artifact(run, "script", 100, created=at(2)),
        progress_artifact(run, "voice", 40, created=at(3), current=4, total=10, message="sentence 5 of 10"),
        progress_artifact(run, "visuals", 100, created=at(3.1), current=5, total=5, message="5 slides drawn"),
    ]
    job = body(runs, now=at(10))
    assert (job.stage, job.percent) == ("voice", 62.0), "5+20 done, 40 % of voice's 30, all of visuals' 25"
    progress = progress_public(runs, job)
    assert progress.current_step is not None and progress.current_step.name == "voice"
    assert progress.message == "sentence 5 of 10"


def test_a_completed_job_is_100_percent_whatever_its_artifacts_say() -> None:
    run, runs = one_attempt(
        state(StateType.SCHEDULED, at(0)), state(StateType.RUNNING, at(1)), state(StateType.COMPLETED, at(21))
    )
    runs.artifacts = [progress_artifact(run, "render", 60, created=at(15))]
    job = body(runs, now=at(500))
    assert job.percent == 100.0 and job.last_completed_stage == "finalize"
    assert job.elapsed_seconds == 20.0, "elapsed stops at the end"
    assert job.completed_at == job.ended_at == at(21) and job.cancelled_at is None
    assert job.eta_seconds is None
    progress = progress_public(runs, job)
    assert progress.current_step is None and progress.completed_steps[-1] == "finalize"


def test_progress_of_an_earlier_attempt_does_not_count() -> None:
    job_id = new_job_id()
    first = job_run(job_id, [state(StateType.RUNNING, at(0)), state(StateType.FAILED, at(10))], latest=False)
    second = job_run(job_id, [state(StateType.SCHEDULED, at(20)), state(StateType.RUNNING, at(21))], attempt=2)
    runs = JobRuns([first, second], [progress_artifact(first, "render", 80, created=at(9))])
    job = body(runs, now=at(30))
    assert (job.stage, job.percent, job.attempt) == (None, 0.0, 2)
    assert job.created_at == first.created, "createdAt is the first attempt's"
    assert job.started_at == at(21) and job.elapsed_seconds == 9.0


def test_an_estimate_is_given_only_while_running() -> None:
    _, queued = one_attempt(state(StateType.SCHEDULED, at(0)))
    _, running = one_attempt(state(StateType.SCHEDULED, at(0)), state(StateType.RUNNING, at(1)))
    _, failed = one_attempt(state(StateType.RUNNING, at(1)), state(StateType.FAILED, at(5)))
    assert body(queued).eta_seconds is None and body(queued).elapsed_seconds is None
    assert body(failed).eta_seconds is None
    estimate = body(running, now=at(2)).eta_seconds
    assert estimate is not None and estimate >= 1.0
    assert body(running, now=at(2), live_eta=42.0).eta_seconds == 42.0, "the stream's estimate when it has one"


def test_a_failed_job_shows_the_failure_its_flow_recorded() -> None:
    run, runs = one_attempt(state(StateType.RUNNING, at(1)), state(StateType.FAILED, at(5), message="Flow failed"))
    runs.artifacts = [progress_artifact(run, "render", 30, created=at(2)), failure_artifact(run, FAILURE, at=at(5))]
    job = body(runs)
    assert job.error is not None
    assert job.error.model_dump() == FAILURE.model_dump()
    assert job.ended_at == at(5) and job.cancelled_at is None


def test_a_crashed_run_is_reported_as_a_lost_worker() -> None:
    run, runs = one_attempt(
        state(StateType.RUNNING, at(1)), state(StateType.CRASHED, at(5), message="process exited with -9")
    )
    error = body(runs).error
    assert error is not None and error.code == WORKER_LOST
    assert error.message == "worker lost: the process running this job ended unexpectedly (process exited with -9)"
    already = run.model_copy(update={"state": state(StateType.CRASHED, at(5), message="worker lost: no heartbeat")})
    assert error_of(already, []).message == "worker lost: no heartbeat"


def test_only_the_job_error_artifact_of_the_attempt_is_taken_as_the_error() -> None:
    job_id = new_job_id()
    first = job_run(job_id, [state(StateType.RUNNING, at(0)), state(StateType.FAILED, at(1))], latest=False)
    run = job_run(job_id, [state(StateType.RUNNING, at(2)), state(StateType.FAILED, at(3), message="bad")], attempt=2)
    other_key = failure_artifact(run, FAILURE, at=at(3), key="render-report")
    earlier = failure_artifact(first, FAILURE, at=at(1))
    error = error_of(run, [earlier, other_key])
    assert (error.code, error.message) == ("E500-INTERNAL", "bad")
    assert error.suggested_actions == ["Read the flow run's logs in the Prefect UI."]


def test_a_cancelled_job_has_its_cancel_time_and_no_error() -> None:
    _, runs = one_attempt(state(StateType.RUNNING, at(1)), state(StateType.CANCELLED, at(7)))
    job = body(runs)
    assert (job.status, job.cancelled_at, job.ended_at, job.error) == ("cancelled", at(7), at(7), None)
    assert not job.can_resume, "nothing was persisted to resume from"


def test_a_queued_job_shows_its_place_and_an_eta_of_its_wait_plus_its_own_run() -> None:
    _, runs = one_attempt(state(StateType.SCHEDULED, at(0)))
    model = EtaModel()
    own = model.expected_total(make_request())
    queued = job_public(runs, ui=UI, eta_model=model, place=Place(position=3, wait_seconds=40.0), now=at(100))
    assert queued.queue_position == 3
    assert queued.eta_seconds == round(40.0 + own, 1)
    assert (queued.eta_low_seconds, queued.eta_high_seconds) == model.band_in_queue().around(queued.eta_seconds)
    assert queued.eta_low_seconds < queued.eta_seconds < queued.eta_high_seconds

    unplaced = body(runs)
    assert unplaced.queue_position is None and unplaced.eta_seconds is None and unplaced.eta_low_seconds is None


def test_a_running_job_has_no_place_in_line_and_an_eta_with_its_band() -> None:
    _, runs = one_attempt(state(StateType.SCHEDULED, at(0)), state(StateType.RUNNING, at(10)))
    running = job_public(runs, ui=UI, eta_model=EtaModel(), place=Place(1, 0.0), now=at(12))
    assert running.queue_position is None
    assert running.eta_seconds and running.eta_low_seconds and running.eta_high_seconds
    assert running.eta_low_seconds <= running.eta_seconds <= running.eta_high_seconds


def test_a_running_jobs_eta_without_a_stream_goes_at_its_stage_speed_since_the_stage_began() -> None:
    request = make_request()
    model = EtaModel.learn([StageTiming(stage, 10.0, request) for stage in STAGES], runs_seen=1)
    run, runs = one_attempt(state(StateType.SCHEDULED, at(0)), state(StateType.RUNNING, at(1)))
    runs.artifacts = [progress_artifact(run, "render", 50, created=at(40))]
    on_time = job_public(runs, ui=UI, eta_model=model, now=at(45))
    slow = job_public(runs, ui=UI, eta_model=model, now=at(50))
    assert on_time.eta_seconds == 5.0 + 10.0, "half the render in 5 s: 5 s more, then the finalize"
    assert slow.eta_seconds == 10.0 + 10.0, "half the render in 10 s: twice as slow as its prior"
