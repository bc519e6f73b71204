"""The job and progress bodies of the REST contract, built from a job's flow runs."""

from datetime import UTC, datetime

from prefect.client.schemas.objects import Artifact, FlowRun, StateType

from api.events.eta import EtaModel, clamp
from api.jobs.outputs import list_outputs
from api.jobs.progress import stage_snapshot
from api.jobs.queue_plan import Place
from api.jobs.runs import JobRuns, attempt_of
from api.schemas.jobs import ErrorPublic, JobPublic, JobSnapshot, ProgressPublic, StepPublic
from flows.contract.artifacts import failure_of
from flows.contract.deployments import run_url
from flows.contract.layout import reusable_stages
from flows.contract.request import VideoRequest
from flows.contract.stages import STAGES
from flows.contract.status import status_of

WORKER_LOST = "E309-WORKER_LOST"


def job_public(
    runs: JobRuns,
    *,
    ui: str,
    eta_model: EtaModel,
    live_eta: float | None = None,
    place: Place | None = None,
    now: datetime | None = None,
) -> JobPublic:
    """The job body; `live_eta` is the event stream's estimate when this process streams the job, `place`
    the job's place in the queue when it waits in one."""
    latest = runs.latest
    status = status_of(latest)
    snapshot = stage_snapshot(runs.latest_artifacts())
    percent = 100.0 if status == "completed" else snapshot.percent
    now = now or datetime.now(UTC)
    ended_at: datetime | None = latest.end_time if status in ("completed", "failed", "cancelled") else None
    if status in ("failed", "cancelled") and ended_at is None and latest.state:
        ended_at = latest.state.timestamp
    elapsed = ((ended_at or now) - latest.start_time).total_seconds() if latest.start_time else None
    job_id = runs.job_id
    request = VideoRequest.model_validate(latest.parameters["request"])
    reusable = reusable_stages(job_id)
    last_completed = "finalize" if status == "completed" else (reusable[-1] if reusable else None)
    eta = None
    if status == "running":
        eta = running_eta(runs, eta_model, live_eta, now)
    elif status == "queued" and place:
        eta = clamp(place.wait_seconds + eta_model.queued_pace * eta_model.expected_total(request, reusable))
    if status == "queued":
        band = eta_model.band_in_queue()
    else:
        waited = eta_model.waited(latest.expected_start_time, latest.start_time)
        band = eta_model.band_for(waited, snapshot.stage if status == "running" else None)
    eta_low, eta_high = band.around(eta)
    return JobPublic(
        job_id=job_id,
        status=status,
        stage=snapshot.stage,
        percent=round(percent, 2),
        eta_seconds=eta,
        eta_low_seconds=eta_low,
        eta_high_seconds=eta_high,
        elapsed_seconds=round(elapsed, 3) if elapsed is not None else None,
        created_at=runs.attempts[0].created or now,
        started_at=latest.start_time,
        completed_at=ended_at if status == "completed" else None,
        cancelled_at=ended_at if status == "cancelled" else None,
        ended_at=ended_at,
        last_completed_stage=last_completed,
        can_resume=status in ("failed", "cancelled") and bool(reusable),
        attempt=attempt_of(latest),
        priority=request.priority,
        queue_position=place.position if place and status == "queued" else None,
        request=request,
        artifacts=list_outputs(job_id) if status == "completed" else [],
        error=error_of(latest, runs.artifacts) if status == "failed" else None,
        flow_run_id=str(latest.id),
        prefect_url=run_url(ui, latest.id),
        correlation_id=latest.parameters.get("correlation_id"),
    )


def error_of(flow_run: FlowRun, artifacts: list[Artifact]) -> ErrorPublic:
    """Why an attempt failed: its recorded `JobFailure`, else what its Prefect state says."""
    for artifact in reversed(artifacts):
        failure = failure_of(artifact) if artifact.flow_run_id == flow_run.id else None
        if failure is not None:
            return ErrorPublic.model_validate(failure.model_dump())
    state = flow_run.state
    if state and state.type == StateType.CRASHED:
        detail = state.message or ""
        return ErrorPublic(
            code=WORKER_LOST,
            stage=None,
            message=detail
            if detail.startswith("worker lost")
            else f"worker lost: the process running this job ended unexpectedly ({detail})",
            suggested_actions=["Retry the job: it resumes from the last completed stage."],
            log_tail="",
        )
    return ErrorPublic(
        code="E500-INTERNAL",
        stage=None,
        message=(state.message if state else "") or "failed",
        suggested_actions=["Read the flow run's logs in the Prefect UI."],
        log_tail="",
    )


def completed_steps(job: JobPublic) -> list[str]:
    if job.status == "completed":
        return list(STAGES)
    if job.last_completed_stage is None:
        return []
    return list(STAGES[: STAGES.index(job.last_completed_stage) + 1])


def running_eta(runs: JobRuns, eta_model: EtaModel, live_eta: float | None, now: datetime) -> float:
    """Seconds left of a running job: the stream's estimate when this process streams it, else the model's."""
    if live_eta is not None:
        return live_eta
    latest = runs.latest
    snapshot = stage_snapshot(runs.latest_artifacts())
    request = VideoRequest.model_validate(latest.parameters["request"])
    waited = eta_model.waited(latest.expected_start_time, latest.start_time)
    elapsed = {stage: (now - started).total_seconds() for stage, started in snapshot.stages_started_at.items()}
    return eta_model.remaining(request, snapshot.stage_percents, elapsed, waited=waited)


def progress_public(runs: JobRuns, job: JobPublic) -> ProgressPublic:
    """The progress body: the job's snapshot, the stage running now, the stages done."""
    snapshot = stage_snapshot(runs.latest_artifacts())
    current = None
    if snapshot.stage and job.status != "completed":
        state = runs.latest.state
        current = StepPublic(
            name=snapshot.stage,
            status=state.name if state and state.name else "Pending",
            progress_pct=round(snapshot.stage_percent, 2),
        )
    return ProgressPublic(
        **job.model_dump(include=set(JobSnapshot.model_fields), by_alias=False),
        current_step=current,
        completed_steps=completed_steps(job),
        message=snapshot.message,
    )
