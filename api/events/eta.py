"""How long a job has left: the seeds' velocity estimator, fed with what finished jobs took.

The seeds estimated from the job's own overall percent: the last 20 samples,
the median velocity of the last 5, remaining = (100 − percent) / velocity,
clamped to 5 s … 2 h, nothing with fewer than 2 samples. Overall percent
follows fixed stage weights (5/20/30/25/15/5), while time goes mostly to the
render, so that velocity swings from stage to stage. Here the samples are the
share of the job's *expected time* already done, from per-stage priors:

- a prior is a stage's time as a fixed start-up part plus a part per unit of
  work, fitted (Theil-Sen, robust to odd runs) to finished runs in Prefect's
  history: completed task runs of completed flow runs; a unit is a second of
  video for the script and the voice, a second of video at one megapixel for
  the slides, a second at one megapixel and 30 fps for the render, one job for
  the brief and finalize;
- before a job has history, built-in priors measured on a 2-core machine serve;
- the first estimate of a job is the sum of its stages' priors; then the
  remaining priors are scaled by how fast the job goes compared with them
  (`Estimator`), clamped to 1 s … 2 h;
- every estimate comes with a band (`Band`): the span, relative to the priors'
  estimate, in which 80 % of the finished jobs' actual times fell;
- a queued job also waits for its start: the median time finished runs took from
  when they could start (queued, or a slot freed by the run before) to running;
- jobs that had to wait for a slot ran while the workers were busy, and often
  slower than their priors: once five have finished, a queued job's time and the
  time of each job ahead of it are scaled by the median actual ÷ estimated time of
  those runs (`queued_pace`), its band is theirs (`queued_band`), and the start-up
  each job ahead of it pays is theirs.
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
from api.settings import settings
from flows.contract.request import VideoRequest
from flows.contract.stages import STAGES

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
        deciles = statistics.quantiles(ratios, n=10, method="inclusive")
        return cls(low=min(1.0, deciles[0]), high=max(1.0, deciles[-1]))

    def around(self, seconds: float | None) -> tuple[float | None, float | None]:
        if seconds is None:
            return None, None
        return clamp(seconds * self.low), clamp(seconds * self.high)


@dataclass
class EtaModel:
    priors: dict[str, Prior] = field(default_factory=lambda: dict(BUILT_IN_PRIORS))
    runs_seen: int = 0
    band: Band = field(default_factory=Band)
    startup_seconds: float = BUILT_IN_STARTUP_SECONDS
    queued_pace: float = 1.0
    queued_band: Band = field(default_factory=Band)

    @classmethod
    def learn(cls, timings: Iterable[StageTiming], runs_seen: int, overhead: float = 0.0) -> "EtaModel":
        """Fit each stage's prior; `overhead` (a run's time outside its stages) is shared among the stages."""
        points: dict[str, list[tuple[float, float]]] = {}
        for timing in timings:
            points.setdefault(timing.stage, []).append((work_units(timing.stage, timing.request), timing.seconds))
        priors = dict(BUILT_IN_PRIORS)
        priors.update({stage: Prior.fit(found) for stage, found in points.items()})
        share = max(0.0, overhead) / len(STAGES)
        return cls(
            priors={stage: Prior(prior.fixed + share, prior.per_unit) for stage, prior in priors.items()},
            runs_seen=runs_seen,
        )

    def remaining(
        self,
        request: VideoRequest,
        stage: str | None,
        stage_percent: float,
        elapsed: float,
        *,
        skipped: Iterable[str] = (),
        estimator: "Estimator | None" = None,
        at: float = 0.0,
        waited: bool = False,
    ) -> float:
        """Seconds left of a job in `stage`; an `estimator` keeps the attempt's samples (the stream's).

        An attempt that `waited` for a slot runs at the queued pace until its own speed is known."""
        expected = self.expected_seconds(request, skipped)
        fraction = done_fraction(expected, stage, stage_percent / 100)
        estimator = estimator or Estimator()
        estimator.add(at, fraction)
        pace = self.queued_pace if waited else 1.0
        return estimator.remaining(sum(expected.values()) * pace, fraction, elapsed)

    def band_for(self, waited: bool) -> "Band":
        return self.queued_band if waited else self.band

    def waited(self, queued_at: datetime | None, started_at: datetime | None) -> bool:
        """Whether an attempt waited for a slot: it started well after it was queued, past the start-up."""
        if queued_at is None or started_at is None:
            return False
        return (started_at - queued_at).total_seconds() > self.startup_seconds + WAITED_SECONDS

    def expected_total(self, request: VideoRequest, skipped: Iterable[str] = ()) -> float:
        """What the whole job is expected to take, before it starts."""
        return clamp(sum(self.expected_seconds(request, skipped).values()))

    def expected_seconds(self, request: VideoRequest, skipped: Iterable[str] = ()) -> dict[str, float]:
        """Each stage's expected time for this request; stages reused from an earlier attempt take none."""
        reused = set(skipped)
        return {
            stage: 0.0 if stage in reused else self.priors[stage].seconds(work_units(stage, request))
            for stage in STAGES
        }


def done_fraction(
    expected: Mapping[str, float], stage: str | None, stage_fraction: float, finished: bool = False
) -> float:
    """Share of the job's expected time behind it, in the middle of `stage`."""
    total = sum(expected.values())
    if finished or total <= 0:
        return 1.0
    if stage is None:
        return 0.0
    before = sum(expected[name] for name in STAGES[: STAGES.index(stage)])
    return min(1.0, (before + expected[stage] * max(0.0, min(1.0, stage_fraction))) / total)


def clamp(seconds: float) -> float:
    return round(max(MIN_SECONDS, min(MAX_SECONDS, seconds)), 1)


class Estimator:
    """Seconds left of one attempt: the priors' remaining time, at the speed the attempt is going.

    The speed is the seeds' median velocity over the last few samples once they span a second
    (a stage's steady progress, the render's above all), else the attempt's average speed once a
    second of expected work is behind it, else the priors' own.
    """

    def __init__(self) -> None:
        self.samples: deque[tuple[float, float]] = deque(maxlen=SAMPLES_KEPT)

    def add(self, at: float, fraction: float) -> None:
        if self.samples and at <= self.samples[-1][0]:
            return
        self.samples.append((at, fraction))

    def velocity(self) -> float | None:
        """Median done fraction per second over the last few sample pairs, if they span a second."""
        recent = list(self.samples)[-(VELOCITY_WINDOW + 1) :]
        if len(recent) < 2 or recent[-1][0] - recent[0][0] < MIN_SPAN_SECONDS:
            return None
        speeds = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in itertools.pairwise(recent) if b[0] > a[0]]
        speeds = [speed for speed in speeds if speed > 0]
        return statistics.median(speeds) if speeds else None

    def remaining(self, expected_total: float, fraction: float, elapsed: float) -> float:
        left = expected_total * (1.0 - fraction)
        velocity = self.velocity()
        if velocity is not None and expected_total > 0:
            slowness = 1.0 / (velocity * expected_total)
        elif expected_total * fraction >= MIN_SPAN_SECONDS:
            slowness = elapsed / (expected_total * fraction)
        else:
            slowness = 1.0
        return clamp(left * max(MIN_SLOWNESS, min(MAX_SLOWNESS, slowness)))


COMPLETED = FlowRunFilterStateType(any_=[StateType.COMPLETED])


async def learn_from_prefect(client: "PrefectClient", deployment: str, runs: int) -> EtaModel:
    """Priors from the stage runs of the newest completed flow runs of the deployments whose names hold
    `deployment` (the video deployment and its owners' copies), in two queries."""
    if runs == 0:
        return EtaModel()
    finished = await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=COMPLETED)),
        deployment_filter=DeploymentFilter(name=DeploymentFilterName(like_=deployment)),
        sort=FlowRunSort.END_TIME_DESC,
        limit=runs,
    )
    if not finished:
        return EtaModel()
    requests = {run.id: VideoRequest.model_validate(run.parameters["request"]) for run in finished}
    stage_runs = await client.read_task_runs(
        flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=list(requests))),
        task_run_filter=TaskRunFilter(state=TaskRunFilterState(name=TaskRunFilterStateName(any_=["Completed"]))),
        limit=200,
    )
    done = [
        run
        for run in stage_runs
        if run.name in STAGES and run.start_time and run.end_time and run.flow_run_id in requests
    ]
    timings = [StageTiming(run.name, _seconds(run), requests[run.flow_run_id]) for run in done]  # type: ignore[index]
    in_stages: dict[UUID, float] = {}
    ran: dict[UUID, set[str]] = {}
    for run in done:
        in_stages[run.flow_run_id] = in_stages.get(run.flow_run_id, 0.0) + _seconds(run)  # type: ignore[index,arg-type]
        ran.setdefault(run.flow_run_id, set()).add(run.name)  # type: ignore[arg-type]
    timed = [run for run in finished if run.start_time and run.end_time and run.id in in_stages]
    overheads = [_seconds(run) - in_stages[run.id] for run in timed]
    overhead = statistics.median(overheads) if overheads else 0.0
    model = EtaModel.learn(timings, runs_seen=len(finished), overhead=overhead)
    # A resumed attempt was expected to take only the stages it ran; the others were reused.
    ratios = {
        run.id: _seconds(run) / model.expected_total(requests[run.id], set(STAGES) - ran[run.id]) for run in timed
    }
    model.band = Band.learn(list(ratios.values()))
    delays = startup_delays(finished)
    model.startup_seconds = _median_delay(list(delays.values()))
    waited = {run.id for run in finished if model.waited(run.expected_start_time, run.start_time)}
    waited_ratios = [ratio for run_id, ratio in ratios.items() if run_id in waited]
    model.queued_band = model.band
    if len(waited_ratios) >= BAND_MIN_RUNS:
        model.queued_pace = max(MIN_SLOWNESS, min(MAX_SLOWNESS, statistics.median(waited_ratios)))
        model.queued_band = Band.learn([ratio / model.queued_pace for ratio in waited_ratios])
    # What a queued job pays between a slot freeing and its start is what the runs that waited paid.
    if len(waited_delays := [delay for run_id, delay in delays.items() if run_id in waited]) >= BAND_MIN_RUNS:
        model.startup_seconds = _median_delay(waited_delays)
    return model


def startup_delays(runs: list["FlowRun"]) -> dict[UUID, float]:
    """Seconds from when each run could start (it was queued, or the last run before it ended) to its start."""
    ends = sorted(run.end_time for run in runs if run.end_time)
    delays = {}
    for run in runs:
        if run.start_time and run.expected_start_time:
            freed = [end for end in ends if end <= run.start_time][-1:]
            delays[run.id] = (run.start_time - max([run.expected_start_time, *freed])).total_seconds()
    return delays


def startup_delay(runs: list["FlowRun"]) -> float:
    """The median of `startup_delays`, or the built-in figure before history."""
    return _median_delay(list(startup_delays(runs).values()))


def _median_delay(delays: list[float]) -> float:
    return max(0.0, statistics.median(delays)) if delays else BUILT_IN_STARTUP_SECONDS


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

    @property
    def loop_seconds(self) -> float:
        return settings.eta_refresh_seconds

    async def run_once(self) -> None:
        self.model = await learn_from_prefect(self.client, self.deployment, settings.eta_history_runs)
