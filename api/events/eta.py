"""How long a job has left: the seeds' velocity estimator, fed with what finished jobs took.

The seeds estimated from the job's own overall percent: the last 20 samples,
the median velocity of the last 5, remaining = (100 − percent) / velocity,
clamped to 5 s … 2 h, nothing with fewer than 2 samples. Overall percent
follows fixed stage weights (5/20/30/25/15/5), while time goes mostly to the
render, so that velocity swings from stage to stage, and the speed of a stage
of a second says nothing about the render after it. Here a job's time left is
the running stage's rest at that stage's own speed plus the stages after it
as finished jobs ran them:

- a stage's expected time (its prior) is a fixed start-up part plus a part per
  unit of work, fitted (Theil-Sen, robust to odd runs) to finished runs in
  Prefect's history: completed task runs of completed flow runs; a unit is a
  second of video for the script and the voice, a second of video at one
  megapixel for the slides, a second at one megapixel and 30 fps for the
  render, one job for the brief and finalize;
- before a job has history, built-in priors measured on a 2-core machine serve;
- the running stage's rest is its prior's rest scaled by how fast the stage goes
  (`Estimator`: the median velocity of its last samples, else its average speed
  so far), the stages after it take their priors; clamped to 1 s … 2 h;
- voice and visuals run side by side (`flows.contract.stages.STEPS`): a step
  takes as long as its slowest stage, so the job's time is its critical path;
- every estimate comes with a band (`Band`): the span, relative to the estimate,
  in which 80 % of the finished jobs' actual times fell. Before a job starts, it
  is learned from their whole times; while it runs, from the estimate this model
  gave each of them halfway through the same stage (`replayed_ratios`);
- a queued job also waits for its start: the median time finished runs took from
  when they could start (queued, or a slot freed by the run before) to running;
- jobs that had to wait for a slot ran while the workers were busy, and often
  slower than their priors: once five have finished, a job that waited takes the
  median actual ÷ estimated time of those runs as its pace for the stages it has
  not run (`queued_pace`), and its bands are learned from them alone.
"""

import itertools
import statistics
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterName,
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterState,
    FlowRunFilterStateType,
    TaskRunFilter,
    TaskRunFilterState,
    TaskRunFilterStateName,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import FlowRunSort

from api.events.loop import PeriodicReader
from api.jobs.queue_plan import Waiting, plan
from api.settings import settings
from flows.contract.request import VideoRequest
from flows.contract.stages import STAGES, STEPS, critical_path, step_of

if TYPE_CHECKING:
    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.objects import FlowRun, TaskRun

SAMPLES_KEPT = 20
VELOCITY_WINDOW = 5
# The seeds clamped to 5 s … 2 h; their jobs took minutes, these often take seconds, so the floor is 1 s.
MIN_SECONDS = 1.0
MAX_SECONDS = 2 * 60 * 60.0
MIN_SPAN_SECONDS = 1.0
# How much slower or faster than its priors a job may be believed to run.
MIN_SLOWNESS, MAX_SLOWNESS = 0.33, 5.0
# Fewer finished jobs than this say too little about the spread of their times: the default band holds.
BAND_MIN_RUNS = 5
# From a free worker slot to the next job running, on this 2-core machine: the worker's poll, a flow-run process.
BUILT_IN_STARTUP_SECONDS = 1.5
# A run that started this much later than it could have, past the start-up, waited for a slot.
WAITED_SECONDS = 5.0


def work_units(stage: str, request: VideoRequest) -> float:
    """How much work a stage has for a request, in the unit its prior is measured in."""
    seconds = float(request.plan.target_duration_seconds)
    width, height = request.frame_size()
    megapixels = width * height / 1e6
    if stage in ("script", "voice"):
        return seconds
    if stage == "visuals":
        return seconds * megapixels
    if stage == "render":
        return seconds * megapixels * request.render.fps / 30
    return 1.0


@dataclass(frozen=True)
class StageTiming:
    """One finished stage run: what it took and what it was asked to do."""

    stage: str
    seconds: float
    request: VideoRequest


@dataclass(frozen=True)
class Prior:
    """A stage's time as a fixed part (start-up: processes, files) and a part per unit of work."""

    fixed: float
    per_unit: float

    def seconds(self, units: float) -> float:
        return self.fixed + self.per_unit * units

    @classmethod
    def fit(cls, points: list[tuple[float, float]]) -> "Prior":
        """Theil-Sen: the median slope over pairs of runs, then the median intercept; robust to odd runs."""
        slopes = [
            (s2 - s1) / (u2 - u1) for (u1, s1), (u2, s2) in itertools.combinations(points, 2) if abs(u2 - u1) > 1e-9
        ]
        per_unit = max(0.0, statistics.median(slopes)) if slopes else 0.0
        if not slopes:
            per_unit = (
                statistics.median(seconds / units for units, seconds in points if units > 0)
                if any(units > 0 for units, _ in points)
                else 0.0
            )
            return cls(fixed=0.0, per_unit=per_unit)
        fixed = max(0.0, statistics.median(seconds - per_unit * units for units, seconds in points))
        return cls(fixed=fixed, per_unit=per_unit)


# Learned from five jobs (8 s to 60 s of video, 640 to 1920 wide) on a 2-core machine.
BUILT_IN_PRIORS: dict[str, Prior] = {
    "brief": Prior(0.1, 0.0),
    "script": Prior(0.15, 0.0),
    "voice": Prior(0.2, 0.002),
    "visuals": Prior(0.25, 0.0015),
    "render": Prior(1.8, 0.062),
    "finalize": Prior(0.15, 0.0),
}


@dataclass(frozen=True)
class Band:
    """Actual time over estimated time: 80 % of finished jobs fell between `low` and `high`.

    The band always holds the estimate itself (low ≤ 1 ≤ high), so a client never shows an
    estimate outside its own range. Before history, a job may take half to twice its estimate.
    """

    low: float = 0.5
    high: float = 2.0

    @classmethod
    def learn(cls, ratios: list[float]) -> "Band":
        if len(ratios) < BAND_MIN_RUNS:
            return cls()
        # "exclusive": the deciles of the distribution the ratios came from, not of the ratios seen, so
        # that 80 % of the next jobs fall inside (a band from ten jobs at their own deciles holds ~65 %).
        deciles = statistics.quantiles(ratios, n=10, method="exclusive")
        return cls(low=min(1.0, deciles[0]), high=max(1.0, deciles[-1]))

    def around(self, seconds: float | None) -> tuple[float | None, float | None]:
        if seconds is None:
            return None, None
        return clamp(seconds * self.low), clamp(seconds * self.high)


@dataclass
class Bands:
    """The band before a job starts (`whole`) and while it runs in each stage."""

    whole: Band = field(default_factory=Band)
    by_stage: dict[str, Band] = field(default_factory=dict)

    def at(self, stage: str | None) -> Band:
        return self.by_stage.get(stage, self.whole) if stage else self.whole


@dataclass
class EtaModel:
    priors: dict[str, Prior] = field(default_factory=lambda: dict(BUILT_IN_PRIORS))
    runs_seen: int = 0
    bands: Bands = field(default_factory=Bands)
    startup_seconds: float = BUILT_IN_STARTUP_SECONDS
    queued_pace: float = 1.0
    queued_bands: Bands = field(default_factory=Bands)
    # A queued job's band, for the wait and the run together; before history, its run's.
    queue_band: Band | None = None

    @classmethod
    def learn(cls, timings: Iterable[StageTiming], runs_seen: int, overhead: float = 0.0) -> "EtaModel":
        """Fit each stage's prior; `overhead` (a run's time outside its stages) is shared among the steps."""
        points: dict[str, list[tuple[float, float]]] = {}
        for timing in timings:
            points.setdefault(timing.stage, []).append((work_units(timing.stage, timing.request), timing.seconds))
        priors = dict(BUILT_IN_PRIORS)
        priors.update({stage: Prior.fit(found) for stage, found in points.items()})
        share = max(0.0, overhead) / len(STEPS)
        return cls(
            priors={stage: Prior(prior.fixed + share, prior.per_unit) for stage, prior in priors.items()},
            runs_seen=runs_seen,
        )

    def remaining(
        self,
        request: VideoRequest,
        progress: Mapping[str, float],
        elapsed: Mapping[str, float] | None = None,
        *,
        skipped: Iterable[str] = (),
        estimator: "Estimator | None" = None,
        at: float = 0.0,
        waited: bool = False,
    ) -> float:
        """Seconds left of a job whose stages in `progress` are that far along (percent), each `elapsed`
        seconds in; an `estimator` keeps the attempt's samples (the stream's). Stages of one step run side
        by side, so a step lasts as long as its slowest stage. A job that `waited` for a slot runs the
        stages ahead at the queued pace."""
        expected = self.expected_seconds(request, skipped)
        pace = self.queued_pace if waited else 1.0
        if not progress:
            return clamp(critical_path(expected) * pace)
        estimator = estimator or Estimator()
        elapsed = elapsed or {}
        reached = max(step_of(stage) for stage in progress)
        left = 0.0
        for index, step in enumerate(STEPS[reached:], start=reached):
            rests = []
            for stage in step:
                if index > reached or stage not in progress:
                    rests.append(expected[stage] * pace)
                    continue
                fraction = max(0.0, min(1.0, progress[stage] / 100))
                estimator.add(stage, at, fraction)
                slowness = estimator.slowness(stage, expected[stage], fraction, elapsed.get(stage)) or pace
                rests.append(expected[stage] * (1.0 - fraction) * bounded(slowness))
            left += max(rests)
        return clamp(left)

    def band_for(self, waited: bool, stage: str | None = None) -> Band:
        """The band of a job that `waited` (or not) for a slot, running in `stage` (None: not started)."""
        return (self.queued_bands if waited else self.bands).at(stage)

    def band_in_queue(self) -> Band:
        """The band of a queued job's estimate, its wait included."""
        return self.queue_band or self.queued_bands.whole

    def waited(self, queued_at: datetime | None, started_at: datetime | None) -> bool:
        """Whether an attempt waited for a slot: it started well after it was queued, past the start-up."""
        if queued_at is None or started_at is None:
            return False
        return (started_at - queued_at).total_seconds() > self.startup_seconds + WAITED_SECONDS

    def expected_total(self, request: VideoRequest, skipped: Iterable[str] = ()) -> float:
        """What the whole job is expected to take, before it starts."""
        return clamp(critical_path(self.expected_seconds(request, skipped)))

    def expected_seconds(self, request: VideoRequest, skipped: Iterable[str] = ()) -> dict[str, float]:
        """Each stage's expected time for this request; stages reused from an earlier attempt take none."""
        reused = set(skipped)
        return {
            stage: 0.0 if stage in reused else self.priors[stage].seconds(work_units(stage, request))
            for stage in STAGES
        }


def clamp(seconds: float) -> float:
    return round(max(MIN_SECONDS, min(MAX_SECONDS, seconds)), 1)


def bounded(slowness: float) -> float:
    return max(MIN_SLOWNESS, min(MAX_SLOWNESS, slowness))


class Estimator:
    """How fast each running stage of one attempt goes, relative to its prior.

    A stage's speed is the seeds' median velocity over its last few samples once they span a
    second (the render's steady progress above all), else its average speed once a second of its
    expected work is behind it; before that, nothing: the prior stands. A stage that goes back
    (a retry starts it again) starts its samples again.
    """

    def __init__(self) -> None:
        self.samples: dict[str, deque[tuple[float, float]]] = {}

    def add(self, stage: str, at: float, fraction: float) -> None:
        samples = self.samples.setdefault(stage, deque(maxlen=SAMPLES_KEPT))
        if samples and fraction < samples[-1][1]:
            samples.clear()
        if samples and at <= samples[-1][0]:
            return
        samples.append((at, fraction))

    def velocity(self, stage: str) -> float | None:
        """Median stage fraction per second over the last few sample pairs, if they span a second."""
        recent = list(self.samples.get(stage, ()))[-(VELOCITY_WINDOW + 1) :]
        if len(recent) < 2 or recent[-1][0] - recent[0][0] < MIN_SPAN_SECONDS:
            return None
        speeds = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in itertools.pairwise(recent) if b[0] > a[0]]
        speeds = [speed for speed in speeds if speed > 0]
        return statistics.median(speeds) if speeds else None

    def slowness(self, stage: str, expected: float, fraction: float, elapsed: float | None) -> float | None:
        """The stage's time so far over its prior's, or None while too little of it is known."""
        velocity = self.velocity(stage)
        if velocity is not None and expected > 0:
            return 1.0 / (velocity * expected)
        if elapsed is not None and expected * fraction >= MIN_SPAN_SECONDS:
            return elapsed / (expected * fraction)
        return None


COMPLETED = FlowRunFilterStateType(any_=[StateType.COMPLETED])


# Prefect answers at most this many task runs a request.
TASK_RUNS_PAGE = 200


@dataclass(frozen=True)
class FinishedJob:
    """A completed flow run of the history, its request and its completed stage runs by stage."""

    run: "FlowRun"
    request: VideoRequest
    stages: dict[str, "TaskRun"]

    @property
    def reused(self) -> set[str]:
        """The stages a resumed attempt did not run: an earlier attempt's outputs served."""
        return set(STAGES) - set(self.stages)


async def learn_from_prefect(
    client: "PrefectClient", deployment: str, runs: int, known: dict[UUID, "FinishedJob"] | None = None
) -> EtaModel:
    """Priors and bands from the newest completed flow runs of the deployments whose names hold
    `deployment` (the video deployment and its owners' copies) and their stage runs. A finished run
    never changes: `known` keeps those read before (this call adds the new ones and drops the rest)."""
    if runs == 0:
        return EtaModel()
    finished = await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=COMPLETED)),
        deployment_filter=DeploymentFilter(name=DeploymentFilterName(like_=deployment)),
        sort=FlowRunSort.END_TIME_DESC,
        limit=runs,
    )
    known = {} if known is None else known
    if new := [run for run in finished if run.id not in known]:
        known.update({job.run.id: job for job in await finished_jobs(client, new)})
    for gone in set(known) - {run.id for run in finished}:
        del known[gone]
    jobs = [job for job in known.values() if job.stages]
    if not jobs:
        return EtaModel()
    timings = [StageTiming(stage, _seconds(task), job.request) for job in jobs for stage, task in job.stages.items()]
    overhead = statistics.median(
        _seconds(job.run) - critical_path({stage: _seconds(task) for stage, task in job.stages.items()}) for job in jobs
    )
    model = EtaModel.learn(timings, runs_seen=len(finished), overhead=overhead)
    delays = startup_delays(finished)
    model.startup_seconds = startup_delay(delays.values())
    waited: list[FinishedJob] = []
    alone: list[FinishedJob] = []
    for job in jobs:
        (waited if model.waited(job.run.expected_start_time, job.run.start_time) else alone).append(job)
    model.bands = learn_bands(model, alone if len(alone) >= BAND_MIN_RUNS else jobs, pace=1.0)
    model.queued_bands = model.bands
    if len(waited) >= BAND_MIN_RUNS:
        model.queued_pace = bounded(statistics.median(_seconds(job.run) / _expected(model, job) for job in waited))
        model.queued_bands = learn_bands(model, waited, pace=model.queued_pace)
        # What a queued job pays between a slot freeing and its start is what the runs that waited paid.
        model.startup_seconds = startup_delay(delays[job.run.id] for job in waited if job.run.id in delays)
        model.queue_band = Band.learn(replayed_queue_ratios(model, jobs, waited))
    return model


async def finished_jobs(client: "PrefectClient", finished: list["FlowRun"]) -> list[FinishedJob]:
    """The timed runs among `finished` with their completed stage runs (none for a run that reused them
    all), read a page at a time."""
    timed = {run.id: run for run in finished if run.start_time and run.end_time}
    stage_runs: list[TaskRun] = []
    while page := await client.read_task_runs(
        flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=list(timed))),
        task_run_filter=TaskRunFilter(state=TaskRunFilterState(name=TaskRunFilterStateName(any_=["Completed"]))),
        limit=TASK_RUNS_PAGE,
        offset=len(stage_runs),
    ):
        stage_runs += page
        if len(page) < TASK_RUNS_PAGE:
            break
    stages: dict[UUID, dict[str, TaskRun]] = {}
    for task in stage_runs:
        if task.name in STAGES and task.start_time and task.end_time and task.flow_run_id in timed:
            stages.setdefault(task.flow_run_id, {})[task.name] = task
    return [
        FinishedJob(run, VideoRequest.model_validate(run.parameters["request"]), stages.get(run_id, {}))
        for run_id, run in timed.items()
    ]


def learn_bands(model: EtaModel, jobs: list[FinishedJob], pace: float) -> Bands:
    """Where 80 % of `jobs` fell relative to what the model (at `pace`) estimated for them: whole, and
    halfway through each stage."""
    by_stage: dict[str, list[float]] = {}
    for job in jobs:
        for stage, ratio in replayed_ratios(model, job, pace).items():
            by_stage.setdefault(stage, []).append(ratio)
    return Bands(
        whole=Band.learn([_seconds(job.run) / (pace * _expected(model, job)) for job in jobs]),
        by_stage={stage: Band.learn(ratios) for stage, ratios in by_stage.items()},
    )


def replayed_ratios(model: EtaModel, job: FinishedJob, pace: float) -> dict[str, float]:
    """For each stage a finished job ran: its actual time left from halfway through that stage, over what
    `model.remaining` said then (the stage's speed known, the stages after it at `pace`)."""
    expected = model.expected_seconds(job.request, job.reused)
    ratios = {}
    for stage, task in job.stages.items():
        later = critical_path({name: expected[name] for step in STEPS[step_of(stage) + 1 :] for name in step})
        estimate = clamp(_seconds(task) / 2 + later * pace)
        left = (job.run.end_time - task.end_time).total_seconds() + _seconds(task) / 2  # type: ignore[operator]
        ratios[stage] = left / estimate
    return ratios


def replayed_queue_ratios(model: EtaModel, jobs: list[FinishedJob], waited: list[FinishedJob]) -> list[float]:
    """For each job that `waited` for a slot: its time from queued to done over what the queue plan said
    when it was queued, from the finished `jobs` that were running and waiting then (at the pace of
    jobs that waited, as `api.service` plans it)."""
    planned = {job.run.id: model.queued_pace * _expected(model, job) for job in jobs}
    ratios = []
    for job in waited:
        queued: datetime = job.run.expected_start_time  # type: ignore[assignment]
        running_left = [
            planned[other.run.id] - (queued - _start(other)).total_seconds()
            for other in jobs
            if _start(other) <= queued < _end(other)
        ]
        in_line = [
            Waiting(
                str(other.run.id),
                other.request.priority,
                other.run.expected_start_time,  # type: ignore[arg-type]
                planned[other.run.id],
            )
            for other in jobs
            if other.run.expected_start_time <= queued < _start(other)  # type: ignore[operator]
        ]
        place = plan(running_left, in_line, model.startup_seconds)[str(job.run.id)]
        estimate = clamp(place.wait_seconds + planned[job.run.id])
        ratios.append((_end(job) - queued).total_seconds() / estimate)
    return ratios


def _start(job: FinishedJob) -> datetime:
    return job.run.start_time  # type: ignore[return-value]


def _end(job: FinishedJob) -> datetime:
    return job.run.end_time  # type: ignore[return-value]


def _expected(model: EtaModel, job: FinishedJob) -> float:
    return model.expected_total(job.request, job.reused)


def startup_delays(runs: list["FlowRun"]) -> dict[UUID, float]:
    """Seconds from when each run could start (it was queued, or the last run before it ended) to its start."""
    ends = sorted(run.end_time for run in runs if run.end_time)
    delays = {}
    for run in runs:
        if run.start_time and run.expected_start_time:
            freed = [end for end in ends if end <= run.start_time][-1:]
            delays[run.id] = (run.start_time - max([run.expected_start_time, *freed])).total_seconds()
    return delays


def startup_delay(delays: Iterable[float]) -> float:
    """The median of some runs' `startup_delays`, or the built-in figure before history."""
    found = list(delays)
    return max(0.0, statistics.median(found)) if found else BUILT_IN_STARTUP_SECONDS


def _seconds(run: "FlowRun | TaskRun") -> float:
    return (run.end_time - run.start_time).total_seconds()  # type: ignore[operator]


class EtaHistory(PeriodicReader):
    """The ETA model, learned again from the deployment's finished jobs every `eta_refresh_seconds`."""

    name = "ETA history"

    def __init__(self, client: "PrefectClient", deployment: str) -> None:
        super().__init__()
        self.client = client
        self.deployment = deployment
        self.model = EtaModel()
        self.known: dict[UUID, FinishedJob] = {}

    @property
    def loop_seconds(self) -> float:
        return settings.eta_refresh_seconds

    async def run_once(self) -> None:
        self.model = await learn_from_prefect(self.client, self.deployment, settings.eta_history_runs, self.known)
