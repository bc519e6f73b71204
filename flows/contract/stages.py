"""The stages of a video job in order, and their share of the overall percentage.

Plain constants, so the API and the CLI can compute progress without importing
the flow or Prefect tasks. Weights follow the seeds (5/20/30/25/15/5).
"""

STAGES: tuple[str, ...] = ("brief", "script", "voice", "visuals", "render", "finalize")
STAGE_WEIGHTS: dict[str, float] = {
    "brief": 5,
    "script": 20,
    "voice": 30,
    "visuals": 25,
    "render": 15,
    "finalize": 5,
}


def overall_percent(stage: str, stage_percent: float) -> float:
    """Percent of the whole job when `stage` is `stage_percent` done."""
    before = sum(STAGE_WEIGHTS[name] for name in STAGES[: STAGES.index(stage)])
    return before + STAGE_WEIGHTS[stage] * max(0.0, min(100.0, stage_percent)) / 100
