"""The ETA model: priors fitted to finished runs, and the estimate as a job goes."""

import asyncio
import random
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
    Bands,
    Estimator,
    EtaModel,
    Prior,
    StageTiming,
    finished_jobs,
    learn_from_prefect,
    startup_delay,
    startup_delays,
)
from flows.contract.stages import STAGES, critical_path
from tests.utils.factories import make_request
from tests.utils.recorded import RecordedPrefect
from tests.utils.records import job_run, stage_run, state


def test_priors_fit_a_fixed_part_and_a_rate_despite_an_odd_run() -> None:
    request = make_request(plan={"targetDurationSeconds": 10}, render={"width": 1000})
    points = [(units, 2.0 + 0.5 * units) for units in (1, 2, 4, 8, 16)] + [(3, 40.0)]
    prior = Prior.fit(points)
    assert abs(prior.fixed - 2.0) < 0.3 and abs(prior.per_unit - 0.5) < 0.05
    model = EtaModel.learn([StageTiming("render", 3.0, request)] * 3, runs_seen=3, overhead=0.6)
    assert abs(model.expected_seconds(request)["render"] - (3.0 + 0.12)) < 1e-6, "a fifth: the run has five steps"
    assert model.expected_seconds(request, skipped=["render"])["render"] == 0.0


def test_velocity_needs_two_samples_a_second_apart() -> None:
    estimator = Estimator()
    assert estimator.velocity("render") is None
    estimator.add("render", 100.0, 0.0)
    estimator.add("render", 100.5, 0.05)
    assert estimator.velocity("render") is None, "half a second says too little"
    estimator.add("render", 101.0, 0.10)
    assert estimator.velocity("render") == pytest.approx(0.1)


def test_velocity_is_the_median_of_the_last_steps_and_ignores_stale_flat_and_other_stages_samples() -> None:
    estimator = Estimator()
    for at, fraction in [(0, 0.0), (1, 0.5), (2, 0.51), (3, 0.52), (4, 0.53), (5, 0.54), (6, 0.55)]:
        estimator.add("render", at, fraction)
    assert estimator.velocity("render") == pytest.approx(0.01), "the early jump has left the window"
    estimator.add("render", 6, 0.9)
    assert estimator.samples["render"][-1] == (6, 0.55), "a sample no later than the last is dropped"
    for at in range(7, 10):
        estimator.add("voice", at, 0.1 * at)
        estimator.add("visuals", at + 0.5, 0.01 * at)
    assert estimator.velocity("voice") == pytest.approx(0.1), "stages side by side keep their own samples"
    assert estimator.velocity("visuals") == pytest.approx(0.01)
    estimator.add("voice", 10, 0.0)
    assert list(estimator.samples["voice"]) == [(10, 0.0)], "a stage started again (a retry) starts again"
    flat = Estimator()
    for at in range(4):
        flat.add("voice", at, 0.2)
    assert flat.velocity("voice") is None, "no progress is no speed"


def test_progress_in_bursts_gives_the_same_speed_as_steady_progress() -> None:
    steady, bursts = Estimator(), Estimator()
    for second in range(11):
        steady.add("render", float(second), second / 20)
        if second % 2 == 0:
            bursts.add("render", float(second), second / 20)
    assert (
        steady.slowness("render", 20.0, 0.5, 10.0)
        == pytest.approx(bursts.slowness("render", 20.0, 0.5, 10.0))
        == pytest.approx(1.0)
    )


def test_the_running_stage_goes_at_its_own_speed_and_the_stages_after_it_at_their_priors() -> None:
    request = make_request()
    model = EtaModel.learn([StageTiming(stage, 10.0, request) for stage in STAGES for _ in range(3)], runs_seen=3)
    assert model.remaining(request, {}) == 50.0, "not started: every prior, voice and visuals side by side"
    assert model.remaining(request, {"render": 50.0}, {"render": 5.0}) == 15.0, "on time: 5 s, then a stage"
    assert model.remaining(request, {"render": 50.0}, {"render": 10.0}) == 20.0, "a render twice as slow"
    done_visuals = {"voice": 50.0, "visuals": 100.0}
    assert model.remaining(request, done_visuals, {"voice": 10.0}) == 30.0, "a slow voice says nothing of the render"
    assert model.remaining(request, {"voice": 100.0, "visuals": 100.0}) == 20.0, "finished stages have nothing left"
    both = model.remaining(request, {"voice": 50.0, "visuals": 20.0}, {"voice": 5.0, "visuals": 2.0})
    assert both == 28.0, "side by side, the stage with more left (8 s of visuals) sets the pace"
    assert model.remaining(request, {"voice": 50.0}, {"voice": 5.0}) == 30.0, "visuals not started yet: its prior"
    assert model.remaining(request, {}, skipped=["script", "voice"]) == 40.0, "a resume skips them"
    assert model.remaining(request, {"render": 0.0}) == 20.0, "a stage without speed yet: its prior"


def test_the_estimate_is_clamped_in_speed_and_in_seconds() -> None:
    request = make_request()
    model = EtaModel.learn([StageTiming(stage, 10.0, request) for stage in STAGES for _ in range(3)], runs_seen=3)
    crawling = Estimator()
    crawling.add("render", 0, 0.0)
    crawling.add("render", 10, 0.0001)
    assert model.remaining(request, {"render": 0.01}, {"render": 10.0}, estimator=crawling, at=10) == pytest.approx(
        10 * 0.9999 * MAX_SLOWNESS + 10, abs=0.1
    )
    racing = Estimator()
    racing.add("render", 0, 0.0)
    racing.add("render", 1, 0.9)
    racing_left = model.remaining(request, {"render": 50.0}, {"render": 1.0}, estimator=racing, at=1)
    assert racing_left == round(5 * MIN_SLOWNESS + 10, 1)
    huge = make_request(plan={"targetDurationSeconds": 1800}, render={"width": 1920, "height": 1080})
    assert EtaModel(priors={stage: Prior(0, 10.0) for stage in STAGES}).remaining(huge, {}) == MAX_SECONDS
    assert model.remaining(request, {"finalize": 99.99}, {"finalize": 10.0}) == MIN_SECONDS


def test_before_any_history_the_first_estimate_is_the_built_in_priors() -> None:
    request = make_request()
    model = EtaModel()
    assert model.runs_seen == 0
    assert model.remaining(request, {}) == round(critical_path(model.expected_seconds(request)), 1)
    assert model.remaining(request, {}) < 10, "a 12 s video at 320 px takes seconds"


def test_an_estimator_kept_across_updates_uses_the_stages_recent_speed() -> None:
    request = make_request()
    model = EtaModel.learn([StageTiming(stage, 10.0, request) for stage in STAGES], runs_seen=1)
    estimator = Estimator()
    for at, percent in [(0, 0.0), (5, 10.0), (6, 20.0), (7, 30.0)]:
        model.remaining(request, {"render": percent}, {"render": at}, estimator=estimator, at=1000.0 + at)
    later = model.remaining(request, {"render": 40.0}, {"render": 8.0}, estimator=estimator, at=1008.0)
    assert len(estimator.samples["render"]) == 5
    assert later == 16.0, "a slow start, then a second for each expected second: on time from here"
    assert model.remaining(request, {"render": 40.0}, {"render": 8.0}) == 22.0, "without samples: twice as slow"


def test_the_band_is_where_eight_in_ten_finished_jobs_fell_relative_to_their_estimates() -> None:
    # Actual over estimated times of twenty finished jobs: 0.85 … 1.80.
    ratios = [0.85 + 0.05 * step for step in range(20)]
    band = Band.learn(ratios)
    inside = [ratio for ratio in ratios if band.low <= ratio <= band.high]
    assert len(inside) / len(ratios) == pytest.approx(0.8, abs=0.1)
    assert band.around(100.0) == (round(100 * band.low, 1), round(100 * band.high, 1))
    assert band.around(None) == (None, None)


def test_a_band_learned_from_ten_jobs_holds_eight_in_ten_of_the_next_ones() -> None:
    draw = random.Random(7)
    inside = 0
    for _ in range(1000):
        band = Band.learn([draw.lognormvariate(0, 0.2) for _ in range(10)])
        inside += sum(band.low <= draw.lognormvariate(0, 0.2) <= band.high for _ in range(10))
    assert inside / 10_000 == pytest.approx(0.8, abs=0.03), "the deciles of ten jobs seen would hold two thirds"


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
    assert startup_delay(startup_delays(runs).values()) == pytest.approx(1.2)
    assert startup_delay([]) > 0, "before history, the built-in figure"


def recorded_history(
    *jobs: dict[str, float], wait: float = 1.0, into: RecordedPrefect | None = None
) -> RecordedPrefect:
    """Finished jobs, each running the stages given (seconds each) one after another, a minute apart;
    each started `wait` seconds after it was queued. `into` adds them to another history (an hour later)."""
    prefect = into or RecordedPrefect()
    noon = datetime(2026, 12, 1, 13 if into else 12, 0, tzinfo=UTC)
    for number, stages in enumerate(jobs):
        queued = noon + timedelta(minutes=number)
        start = queued + timedelta(seconds=wait)
        end = start + timedelta(seconds=sum(stages.values()))
        history = [state(StateType.SCHEDULED, queued), state(StateType.RUNNING, start), state(StateType.COMPLETED, end)]
        flow_run = job_run(f"job-{number}-{wait}", history)
        prefect.add_flow_run(flow_run)
        for stage, seconds in stages.items():
            ran = [state(StateType.RUNNING, start), state(StateType.COMPLETED, start + timedelta(seconds=seconds))]
            prefect.add_task_run(stage_run(flow_run, stage, ran))
            start += timedelta(seconds=seconds)
    return prefect


def learned(prefect: RecordedPrefect) -> EtaModel:
    return asyncio.run(learn_from_prefect(cast(PrefectClient, prefect), "generate", 50))


def test_every_stage_run_of_the_history_is_read_past_a_page_of_task_runs() -> None:
    prefect = recorded_history(*[dict.fromkeys(STAGES, 1.0)] * 40)
    runs = asyncio.run(prefect.read_flow_runs())
    jobs = asyncio.run(finished_jobs(cast(PrefectClient, prefect), runs))
    assert len(jobs) == 40 and all(set(job.stages) == set(STAGES) for job in jobs), "240 task runs, pages of 200"


def test_a_finished_run_is_read_once_and_forgotten_once_it_leaves_the_history() -> None:
    prefect = recorded_history(*[{"render": 10.0}] * 5)
    known: dict = {}
    asyncio.run(learn_from_prefect(cast(PrefectClient, prefect), "generate", 50, known))
    reads = prefect.calls.count("read_task_runs")
    assert reads >= 1
    again = asyncio.run(learn_from_prefect(cast(PrefectClient, prefect), "generate", 50, known))
    assert prefect.calls.count("read_task_runs") == reads, "nothing new: no stage run read again"
    assert again == learned(prefect)
    asyncio.run(
        learn_from_prefect(
            cast(PrefectClient, recorded_history(*[{"render": 10.0}] * 5, into=prefect)), "generate", 5, known
        )
    )
    assert len(known) == 5, "the five newest runs, not the ten seen"


def test_while_a_stage_runs_the_band_is_learned_from_the_estimates_finished_jobs_had_in_that_stage() -> None:
    # Renders of 10 to 20 s, then a finalize of 1 s: the whole time varies a lot, but halfway through the
    # render, with its speed known, only the finalize is left to guess, and it never varies.
    prefect = recorded_history(*[{"render": 10.0 + number, "finalize": 1.0} for number in range(11)])
    model = learned(prefect)
    whole, rendering = model.band_for(False), model.band_for(False, "render")
    assert whole.high - whole.low > 0.4
    assert rendering.high - rendering.low < 0.1 and rendering.low <= 1.0 <= rendering.high
    request = make_request()
    for render in (10.0, 15.0, 20.0):
        estimate = model.remaining(
            request, {"render": 50.0}, {"render": render / 2}, skipped=set(STAGES) - {"render", "finalize"}
        )
        low, high = rendering.around(estimate)
        assert low is not None and high is not None and low - 0.1 <= render / 2 + 1.0 <= high + 0.1


def test_jobs_that_waited_for_a_slot_teach_the_pace_and_band_of_queued_jobs() -> None:
    # Renders took 20 s (±2) when their jobs had waited 30 s for a slot, 10 s (±1) when they had not.
    alone = [{"render": 9.0 + 0.5 * number} for number in range(5)]
    waited = [{"render": 18.0 + number} for number in range(5)]
    model = learned(recorded_history(*waited, wait=30.0, into=recorded_history(*alone)))
    assert model.queued_pace > 1.2, "the jobs that waited ran longer than the priors of all say"
    assert model.band_for(True) != model.band_for(False)
    assert model.band_for(True).low <= 1.0 <= model.band_for(True).high
    assert model.band_for(True, "render") != model.band_for(False, "render")

    few = learned(recorded_history(*waited[:4], wait=30.0, into=recorded_history(*alone, {"render": 10.0})))
    assert few.queued_pace == 1.0 and few.queued_bands == few.bands, "four jobs that waited say too little"


def test_an_attempt_that_waited_runs_the_stages_ahead_at_the_queued_pace() -> None:
    model = EtaModel(queued_pace=1.5, queued_bands=Bands(whole=Band(low=0.9, high=1.2)), startup_seconds=2.0)
    noon = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert model.waited(noon, noon + timedelta(seconds=30)) and not model.waited(noon, noon + timedelta(seconds=3))
    request = make_request()
    alone = model.remaining(request, {"brief": 0.0}, {"brief": 0.0})
    assert model.remaining(request, {"brief": 0.0}, {"brief": 0.0}, waited=True) == pytest.approx(1.5 * alone, abs=0.1)
    assert model.band_for(True) == Band(low=0.9, high=1.2) and model.band_for(False) == Band()
    assert model.band_for(True, "render") == Band(low=0.9, high=1.2), "no stage band learned: the whole one"

    going = Estimator()
    for second in range(4):
        going.add("finalize", float(second), 0.1 * second)
    finalizing, elapsed = {"finalize": 30.0}, {"finalize": 3.0}
    assert model.remaining(request, finalizing, elapsed, estimator=going, at=3.0, waited=True) == pytest.approx(
        model.remaining(request, finalizing, elapsed, estimator=going, at=3.0), abs=0.1
    ), "the running stage's own speed, once known, is what counts"


def test_a_queued_jobs_band_is_learned_from_how_the_line_went_for_jobs_queued_before() -> None:
    # Eleven jobs queued together on one slot, renders of 8 and 12 s in turn, 1 s of start-up each: a job's own
    # run missed its prior by a fifth, but over a line of them the misses cancel out.
    prefect = RecordedPrefect()
    noon = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    start = noon
    for number in range(11):
        start += timedelta(seconds=1)
        end = start + timedelta(seconds=8 if number % 2 else 12)
        queued = noon + timedelta(milliseconds=number)  # their turns, in order
        history = [state(StateType.SCHEDULED, queued), state(StateType.RUNNING, start), state(StateType.COMPLETED, end)]
        flow_run = job_run(f"line-{number}", history)
        prefect.add_flow_run(flow_run)
        prefect.add_task_run(stage_run(flow_run, "render", history[1:]))
        start = end
    model = learned(prefect)
    own, in_line = model.band_for(True), model.band_in_queue()
    assert own.high - own.low > 0.3, "one job's run: a fifth either way"
    assert in_line.high - in_line.low < 0.2 and in_line.low <= 1.0 <= in_line.high
    assert EtaModel().band_in_queue() == Band(), "before history: half to twice"
