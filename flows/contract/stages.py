"""The stages of a video job in order, how they run, and their share of the overall percentage.

Plain constants, so the API and the CLI can compute progress without importing
the flow or Prefect tasks. Weights follow the seeds (5/20/30/25/15/5).

`STEPS` is the shape of a run: each step's stages start once every stage of the
steps before it is done, and run side by side (voice and visuals need only the
script; the render needs both).
"""

from collections.abc import Mapping

STAGES: tuple[str, ...] = ("brief", "script", "voice", "visuals", "render", "finalize")
STEPS: tuple[tuple[str, ...], ...] = (("brief",), ("script",), ("voice", "visuals"), ("render",), ("finalize",))
STAGE_WEIGHTS: dict[str, float] = {
    "brief": 5,
    "script": 20,
    "voice": 30,
    "visuals": 25,
    "render": 15,
    "finalize": 5,
}


def step_of(stage: str) -> int:
    """The index in `STEPS` of the step `stage` runs in."""
    return next(index for index, step in enumerate(STEPS) if stage in step)


def done_before(stage: str) -> tuple[str, ...]:
    """The stages that are done whenever `stage` has started."""
    return tuple(name for step in STEPS[: step_of(stage)] for name in step)


def critical_path(seconds: Mapping[str, float]) -> float:
    """How long stages taking `seconds` each take in all, those of a step side by side."""
    return sum(max(seconds.get(stage, 0.0) for stage in step) for step in STEPS)


def overall_percent(stage_percents: Mapping[str, float]) -> float:
    """Percent of the whole job when each stage in `stage_percents` is that far (0-100) along.

    A stage that has started implies the steps before it are done, whatever was seen of them.
    """
    percents = dict(stage_percents)
    for stage in stage_percents:
        percents.update({name: 100.0 for name in done_before(stage)})
    return sum(STAGE_WEIGHTS[stage] * max(0.0, min(100.0, percent)) / 100 for stage, percent in percents.items())
