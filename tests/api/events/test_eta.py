"""The ETA model: priors fitted to finished runs, and the estimate as a job goes."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import FlowRun, StateType

from api.events.eta import (
    MAX_SECONDS,
    MAX_SLOWNESS,
    MIN_SECONDS,
    MIN_SLOWNESS,
    Band,
    Estimator,
    EtaModel,
    Prior,
    StageTiming,
    learn_from_prefect,
    startup_delay,
)
from flows.contract.stages import STAGES
from tests.utils.factories import make_request
from tests.utils.recorded import RecordedPrefect
from tests.utils.records import job_run, stage_run, state


def test_priors_fit_a_fixed_part_and_a_rate_despite_an_odd_run() -> None:
    request = make_request(plan={"targetDurationSeconds": 10}, render={"width": 1000})
    points = [(units, 2.0 + 0.5 * units) for units in (1, 2, 4, 8, 16)] + [(3, 40.0)]
    prior = Prior.fit(points)
    assert abs(prior.fixed - 2.0) < 0.3 and abs(prior.per_unit - 0.5) < 0.05
    model = EtaModel.learn([StageTiming("render", 3.0, request)] * 3, runs_seen=3, overhead=0.6)
    assert abs(model.expected_seconds(request)["render"] - (3.0 + 0.1)) < 1e-6, "a sixth of the overhead"
    assert model.expected_seconds(request, skipped=["render"])["render"] == 0.0


def test_velocity_needs_two_samples_a_second_apart() -> None:
    estimator = Estimator()
    assert estimator.velocity() is None
    estimator.add(100.0, 0.0)
    estimator.add(100.5, 0.05)
    assert estimator.velocity() is None, "half a second says too little"
    estimator.add(101.0, 0.10)
    assert estimator.velocity() == pytest.approx(0.1)


def test_velocity_is_the_median_of_the_last_steps_and_ignores_stale_and_flat_samples() -> None:
    estimator = Estimator()
    for at, fraction in [(0, 0.0), (1, 0.5), (2, 0.51), (3, 0.52), (4, 0.53), (5, 0.54), (6, 0.55)]:
        estimator.add(at, fraction)
    assert estimator.velocity() == pytest.approx(0.01), "the early jump has left the window"
    estimator.add(6, 0.9)
    assert estimator.samples[-1] == (6, 0.55), "a sample no later than the last is dropped"
    flat = Estimator()
    for at in range(4):
        flat.add(at, 0.2)
    assert flat.velocity() is None, "no progress is no speed"


def test_the_estimate_scales_the_priors_by_how_fast_the_job_goes() -> None:
    assert Estimator().remaining(20.0, 0.0, 0.0) == 20.0, "at the start, the priors themselves"
    assert Estimator().remaining(20.0, 0.25, 10.0) == 30.0, "5 s of expected work took 10 s: twice as slow"
    steady = Estimator()
    for at, fraction in [(0, 0.0), (1, 0.05), (2, 0.10)]:
        steady.add(at, fraction)
    assert steady.remaining(40.0, 0.10, 2.0) == 18.0, "4 s of expected work in 2 s: half the 36 s left"


def test_the_estimate_is_clamped_in_speed_and_in_seconds() -> None:
    crawling = Estimator()
    crawling.add(0, 0.0)
    crawling.add(10, 0.0001)
    assert crawling.remaining(100.0, 0.0001, 10.0) == pytest.approx(100.0 * 0.9999 * MAX_SLOWNESS, abs=0.1)
    racing = Estimator()
    racing.add(0, 0.0)
    racing.add(1, 0.9)
    assert racing.remaining(100.0, 0.5, 1.0) == round(50.0 * MIN_SLOWNESS, 1)
    assert Estimator().remaining(1e6, 0.0, 0.0) == MAX_SECONDS
    assert Estimator().remaining(20.0, 0.999, 20.0) == MIN_SECONDS


def test_before_any_history_the_first_estimate_is_the_built_in_priors() -> None:
    request = make_request()
    model = EtaModel()
    assert model.runs_seen == 0
    assert model.remaining(request, None, 0.0, 0.0) == round(sum(model.expected_seconds(request).values()), 1)
    assert model.remaining(request, None, 0.0, 0.0) < 10, "a 12 s video at 320 px takes seconds"


def test_after_history_the_estimate_follows_what_finished_jobs_took() -> None:
    request = make_request()
    history = [StageTiming(stage, 10.0, request) for stage in STAGES for _ in range(3)]
    model = EtaModel.learn(history, runs_seen=3)
    assert model.remaining(request, None, 0.0, 0.0) == 60.0
    assert model.remaining(request, "render", 50.0, 45.0) == 15.0, "on time: 45 s of 60 behind"
    assert model.remaining(request, "render", 50.0, 90.0) == 30.0, "twice as slow as history"
    assert model.remaining(request, None, 0.0, 0.0, skipped=["script", "voice"]) == 40.0, "a resume skips them"


def test_an_estimator_kept_across_updates_uses_the_attempts_own_speed() -> None:
    request = make_request()
    model = EtaModel.learn([StageTiming(stage, 10.0, request) for stage in STAGES], runs_seen=1)
    estimator = Estimator()
    model.remaining(request, "voice", 0.0, 25.0, estimator=estimator, at=1000.0)
    later = model.remaining(request, "voice", 50.0, 30.0, estimator=estimator, at=1005.0)
    assert len(estimator.samples) == 2
    assert later == 35.0, "5 s of expected work in the last 5 s: on time from here"
    assert model.remaining(request, "voice", 50.0, 30.0) == 42.0, "without samples: 30 s for 25 s, all along"


def test_the_band_is_where_eight_in_ten_finished_jobs_fell_relative_to_their_estimates() -> None:
    # Actual over estimated times of twenty finished jobs: 0.85 … 1.80.
    ratios = [0.85 + 0.05 * step for step in range(20)]
    band = Band.learn(ratios)
    inside = [ratio for ratio in ratios if band.low <= ratio <= band.high]
    assert len(inside) / len(ratios) == pytest.approx(0.8, abs=0.1)
    assert band.around(100.0) == (round(100 * band.low, 1), round(100 * band.high, 1))
    assert band.around(None) == (None, None)


def test_the_band_holds_the_estimate_itself_and_needs_five_jobs() -> None:
    assert Band.learn([1.3, 1.4, 1.5, 1.6]) == Band() == Band(low=0.5, high=2.0)
    slow = Band.learn([1.3, 1.4, 1.5, 1.6, 1.7, 1.8])
    assert slow.low == 1.0 and slow.high > 1.7, "jobs that all ran late still have the estimate in their band"
    assert Band(low=0.9, high=1.1).around(0.5) == (MIN_SECONDS, MIN_SECONDS), "clamped as the estimate is"


def test_the_start_up_is_counted_from_when_a_run_could_start_to_when_it_did() -> None:
    noon = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def run(queued: float, started: float, ended: float) -> FlowRun:
        at = [noon + timedelta(seconds=seconds) for seconds in (queued, started, ended)]
        history = [
            state(StateType.SCHEDULED, at[0]),
            state(StateType.RUNNING, at[1]),
            state(StateType.COMPLETED, at[2]),
        ]
        return job_run("job", history)

    # Alone: queued at 0, running at 1. Behind it: queued at 0.5, ran once the first ended at 10 (2 s later).
    # The third was queued at 30, long after the slot freed, and started 1.2 s later.
    runs = [run(0, 1, 10), run(0.5, 12, 20), run(30, 31.2, 40)]
    assert startup_delay(runs) == pytest.approx(1.2)
    assert startup_delay([]) > 0, "before history, the built-in figure"


def recorded_history(waited: int, alone: int) -> RecordedPrefect:
    """Finished jobs whose render took 20 s when they had waited 30 s for a slot, 10 s when they had not."""
    prefect = RecordedPrefect()
    noon = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    for number in range(waited + alone):
        queued = noon + timedelta(minutes=number)
        start = queued + timedelta(seconds=30 if number < waited else 1)
        end = start + timedelta(seconds=20 if number < waited else 10)
        history = [state(StateType.SCHEDULED, queued), state(StateType.RUNNING, start), state(StateType.COMPLETED, end)]
        flow_run = job_run(f"job-{number}", history)
        prefect.add_flow_run(flow_run)
        prefect.add_task_run(stage_run(flow_run, "render", history[1:]))
    return prefect


def test_jobs_that_waited_for_a_slot_teach_the_pace_and_band_of_queued_jobs() -> None:
    model = asyncio.run(learn_from_prefect(cast(PrefectClient, recorded_history(waited=5, alone=5)), "generate", 50))
    assert model.queued_pace > 1.2, "the jobs that waited ran longer than the priors of all say"
    assert model.queued_band.low <= 1.0 <= model.queued_band.high and model.queued_band != model.band

    few = asyncio.run(learn_from_prefect(cast(PrefectClient, recorded_history(waited=4, alone=6)), "generate", 50))
    assert few.queued_pace == 1.0 and few.queued_band == few.band, "four jobs that waited say too little"


def test_an_attempt_that_waited_runs_at_the_queued_pace_until_its_own_speed_shows() -> None:
    model = EtaModel(queued_pace=1.5, queued_band=Band(low=0.9, high=1.2), startup_seconds=2.0)
    noon = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert model.waited(noon, noon + timedelta(seconds=30)) and not model.waited(noon, noon + timedelta(seconds=3))
    request = make_request()
    alone = model.remaining(request, "brief", 0.0, 0.0)
    assert model.remaining(request, "brief", 0.0, 0.0, waited=True) == pytest.approx(1.5 * alone, abs=0.1)
    assert model.band_for(True) == Band(low=0.9, high=1.2) and model.band_for(False) == model.band

    going = Estimator()
    for second in range(4):
        going.add(float(second), 0.1 * second)
    assert model.remaining(request, "render", 50.0, 3.0, estimator=going, at=3.0, waited=True) == pytest.approx(
        model.remaining(request, "render", 50.0, 3.0, estimator=going, at=3.0), abs=0.1
    ), "its own speed, once known, is what counts"
