"""One job's stream: facts from Prefect, in order, turned into the contract's events.

A timeline folds facts (`api.events.facts`) into the job's view (status, stage,
percent, ETA) and the events a client sees. Event ids are `<micros>-<n>`: the
fact's stored time in microseconds since the epoch, and a counter for events
that share it. Facts are committed only once they are older than the settle
delay, so every API process commits the same facts in the same order and
gives them the same ids; a reconnecting client gets the events after its
`Last-Event-ID` from whichever process answers.
"""

import bisect
import logging
import re
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from uuid import UUID

from prefect.client.schemas.objects import StateType

from api.events.eta import Estimator, EtaModel
from api.events.facts import Fact, FlowState, LogLine, Progress, RunEnd, TaskState, micros
from api.schemas.base import ApiModel
from api.schemas.events import (
    EVENT_NAMES,
    JobCancelledEvent,
    JobCompletedEvent,
    JobFailedEvent,
    JobLogEvent,
    JobStatusEvent,
    StepProgressEvent,
    StepStatus,
    StepStatusEvent,
    WarningEvent,
)
from api.schemas.jobs import ArtifactPublic, ErrorPublic
from api.settings import settings
from flows.contract.request import VideoRequest
from flows.contract.stages import overall_percent
from flows.contract.status import STATUS_OF_STATE, JobStatus

log = logging.getLogger("aura.events")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ID_PATTERN = re.compile(r"(\d{1,19})-(\d{1,9})")
LOG_TAIL_LINES = 10
# How the stages still running end when their attempt ends so.
ENDED_WITH_STAGES: dict[JobStatus, StepStatus] = {"cancelled": "cancelled", "failed": "failed"}


@dataclass(frozen=True, order=True)
class EventId:
    micros: int
    n: int = 0

    def __str__(self) -> str:
        return f"{self.micros}-{self.n}"

    @classmethod
    def parse(cls, text: str) -> "EventId | None":
        match = ID_PATTERN.fullmatch(text.strip())
        return cls(int(match[1]), int(match[2])) if match else None

    @property
    def at(self) -> datetime:
        return EPOCH + timedelta(microseconds=self.micros)


ORIGIN = EventId(0, 0)


@dataclass
class Emitted:
    """One event of the stream, and the job's status as of that event (a reconnect's first event)."""

    id: EventId
    data: ApiModel
    status: JobStatusEvent
    attempt: int
    final: bool = False
    artifact_id: UUID | None = None

    @property
    def name(self) -> str:
        """The SSE event name (`job-status`, `step-progress`, …)."""
        return EVENT_NAMES[type(self.data)]

    @cached_property
    def data_json(self) -> str:
        """The event's data, encoded once for all the clients that get it."""
        return self.data.model_dump_json()


@dataclass
class Outcome:
    """What the poller knows of an ended attempt when it first sees the end: files, or the error."""

    artifacts: list[ArtifactPublic] = field(default_factory=list)
    error: ErrorPublic | None = None
    can_resume: bool = False


class Timeline:
    def __init__(
        self, job_id: str, request: VideoRequest, created_at: datetime, eta_model: Callable[[], EtaModel]
    ) -> None:
        self.job_id = job_id
        self.request = request
        self.created_at = created_at
        self.eta_model = eta_model
        self.events: list[Emitted] = []
        self.last_id = ORIGIN
        self.pending: dict[str, Fact] = {}
        self.seen: set[str] = set()
        self.attempt_of: dict[UUID, int] = {}
        self.stage_of_task: dict[UUID, str] = {}
        self.outcomes: dict[UUID, Outcome] = {}
        self.latest_attempt = 1
        self._batch: list[Emitted] = []
        self.recent_logs: deque[str] = deque(maxlen=LOG_TAIL_LINES)
        self._new_attempt(1)
        self.status: JobStatus = "queued"

    def _new_attempt(self, attempt: int) -> None:
        self.attempt = attempt
        self.stage: str | None = None
        # Every stage this attempt has started, and how far along it is (voice and visuals run at once).
        self.stage_percents: dict[str, float] = {}
        self.percent = 0.0
        self.queued_at: datetime | None = None
        self.started_at: datetime | None = None
        self.stage_started: dict[str, datetime] = {}
        self.skipped: set[str] = set()
        self.cancelling = False
        self.running: list[str] = []
        self.last_progress_at: datetime | None = None
        self.stall_warned = False
        self.estimator = Estimator()
        self.eta: float | None = None
        self.eta_low: float | None = None
        self.eta_high: float | None = None
        # A stage's progress stored before Prefect received the stage's start (its flow process sends
        # progress over HTTP and states over a websocket that can lag): it follows the start.
        self.early_progress: dict[str, Progress] = {}

    # What the poller tells the timeline.

    def register_run(self, flow_run_id: UUID, attempt: int) -> None:
        self.attempt_of[flow_run_id] = attempt
        self.latest_attempt = max(self.latest_attempt, attempt)

    def knows(self, ref: str) -> bool:
        return ref in self.seen or ref in self.pending

    def add(self, facts: Iterable[Fact]) -> None:
        for fact in facts:
            held = self.pending.get(fact.ref)
            # Of two stored copies of one fact (a log line sent twice), the first stored stands.
            if fact.ref not in self.seen and (held is None or fact.order() < held.order()):
                self.pending[fact.ref] = fact

    def first_line_of_unknown_stage(self) -> datetime | None:
        """When the oldest pending log line of a task run not known yet was stored. A stage's log line
        can reach Prefect before its task run does (the flow process sends logs and task-run events on
        separate connections), and a line sent before its stage is known would name no step."""
        return min(
            (
                fact.at
                for fact in self.pending.values()
                if isinstance(fact, LogLine) and fact.task_run_id and fact.task_run_id not in self.stage_of_task
            ),
            default=None,
        )

    def commit(self, horizon: datetime) -> list[Emitted]:
        """Fold every pending fact stored up to `horizon`, oldest first; the new events, in order."""
        ready = sorted((fact for fact in self.pending.values() if fact.at <= horizon), key=Fact.order)
        self._batch = []
        for fact in ready:
            del self.pending[fact.ref]
            self.seen.add(fact.ref)
            self._warn_if_stalled(fact.at)
            self._apply(fact)
        self._warn_if_stalled(horizon)
        return self._batch

    # What a client asks of it.

    def after(self, cursor: EventId) -> list[Emitted]:
        return self.events[bisect.bisect_right(self.events, cursor, key=lambda event: event.id) :]

    def status_at(self, cursor: EventId) -> JobStatusEvent:
        index = bisect.bisect_right(self.events, cursor, key=lambda event: event.id)
        if index:
            return self.events[index - 1].status
        return JobStatusEvent(
            job_id=self.job_id,
            status="queued",
            stage=None,
            percent=0.0,
            eta_seconds=None,
            eta_low_seconds=None,
            eta_high_seconds=None,
            attempt=1,
            timestamp=self.created_at,
        )

    def ended_by(self, cursor: EventId) -> bool:
        """Whether a client at `cursor` has already had the terminal event of the newest attempt."""
        return any(
            event.final and event.attempt == self.latest_attempt and event.id <= cursor
            for event in reversed(self.events)
        )

    @property
    def ended(self) -> bool:
        """Whether the newest attempt's terminal event is out. It need not be the last event: a log line
        stored after the end's grace follows it."""
        return self.ended_by(self.last_id)

    def is_last_word(self, event: Emitted) -> bool:
        return event.final and event.attempt == self.latest_attempt

    def valid_cursor(self, cursor: EventId, now: datetime) -> bool:
        """A cursor inside this job's life; other ids (another job's, the future) restart the stream."""
        if cursor == ORIGIN:
            return True
        return micros(self.created_at) <= cursor.micros <= micros(now + timedelta(seconds=5))

    # The fold.

    def _apply(self, fact: Fact) -> None:
        attempt = self.attempt_of.get(fact.flow_run_id, self.attempt)
        if isinstance(fact, LogLine):
            self._log(fact, attempt)
            return
        if attempt > self.attempt:
            self._new_attempt(attempt)
        if attempt < self.attempt:
            return
        if isinstance(fact, FlowState):
            self._flow_state(fact)
        elif isinstance(fact, TaskState):
            self._task_state(fact)
        elif isinstance(fact, Progress):
            self._progress(fact)
        elif isinstance(fact, RunEnd):
            self._end(fact)

    def _flow_state(self, fact: FlowState) -> None:
        status = STATUS_OF_STATE[fact.type]
        if fact.type == StateType.SCHEDULED and self.queued_at is None:
            self.queued_at = fact.at
        if fact.type == StateType.RUNNING and self.started_at is None:
            self.started_at = fact.at
        if fact.type == StateType.CANCELLING:
            self.cancelling = True
        if fact.type == StateType.COMPLETED:
            self.percent = 100.0
        if status == self.status:
            return
        self.status = status
        if status in ENDED_WITH_STAGES:
            self._end_running_stages(fact.at, ENDED_WITH_STAGES[status])
        if status not in ("running", "cancelling"):
            self.running.clear()
        self._emit(fact.at, self._status_event(fact.at))

    def _end_running_stages(self, at: datetime, status: StepStatus) -> None:
        """A stage that was running when its attempt ended, and never said how it ended (a task run in a
        thread of the flow-run process, stopped with it), ended with the attempt."""
        for stage in self.running:
            self._emit(
                at,
                StepStatusEvent(job_id=self.job_id, step=stage, status=status, attempt=self.attempt, timestamp=at),
            )

    def _task_state(self, fact: TaskState) -> None:
        stage, status, duration = fact.stage, fact.status, None
        # A cancel stops a stage by killing its process (crashed) or by the stage's own check (failed).
        if status == "crashed" or status == "failed":
            status = "cancelled" if self.cancelling else "failed"
        if self.status in ENDED_WITH_STAGES and stage not in self.running:
            return  # said when the attempt ended
        self.stage = stage
        if stage in self.running:
            self.running.remove(stage)
        stage_percent = self.stage_percents.get(stage, 0.0)
        if status == "started":
            self.stage_started.setdefault(stage, fact.at)
            self.running.append(stage)
            self.last_progress_at, self.stall_warned = fact.at, False
            stage_percent = 0.0
        if status in ("completed", "cached"):
            stage_percent = 100.0
            if status == "cached":
                self.skipped.add(stage)
            elif stage in self.stage_started:
                duration = round((fact.at - self.stage_started[stage]).total_seconds(), 3)
        self.stage_percents[stage] = stage_percent
        self.percent = max(self.percent, overall_percent(self.stage_percents))
        self._update_eta(fact.at)
        self._emit(
            fact.at,
            StepStatusEvent(
                job_id=self.job_id,
                step=stage,
                status=status,
                attempt=self.attempt,
                duration_seconds=duration,
                timestamp=fact.occurred,
            ),
        )
        if status == "started" and (early := self.early_progress.pop(stage, None)):
            self._progress(early, after=fact.at)
        if status == "retrying":
            self._emit(
                fact.at,
                WarningEvent(
                    job_id=self.job_id,
                    step=stage,
                    kind="retry",
                    timestamp=fact.occurred,
                    message=f"{stage} failed and will be retried; see the log lines",
                ),
            )

    def _progress(self, fact: Progress, *, after: datetime | None = None) -> None:
        if fact.stage not in self.running:
            if fact.stage not in self.stage_started and self.status == "running":
                self.early_progress[fact.stage] = fact
            return
        placed = max(fact.at, after or fact.at)
        self.stage = fact.stage
        self.stage_percents[fact.stage] = fact.stage_percent
        self.percent = max(self.percent, overall_percent(self.stage_percents))
        self.last_progress_at, self.stall_warned = placed, False
        self._update_eta(placed)
        elapsed = (fact.at - self.started_at).total_seconds() if self.started_at else 0.0
        self._emit(
            placed,
            StepProgressEvent(
                job_id=self.job_id,
                step=fact.stage,
                step_percent=round(fact.stage_percent, 2),
                percent=round(self.percent, 2),
                message=fact.message,
                current_item=fact.current_item,
                total_items=fact.total_items,
                eta_seconds=self.eta,
                eta_low_seconds=self.eta_low,
                eta_high_seconds=self.eta_high,
                elapsed_seconds=round(elapsed, 3),
                timestamp=fact.at,
            ),
            artifact_id=fact.artifact_id,
        )

    def _log(self, fact: LogLine, attempt: int) -> None:
        step = self.stage_of_task.get(fact.task_run_id) if fact.task_run_id else None
        level = logging.getLevelName(fact.level)
        self.recent_logs.append(f"{level} {fact.message}")
        self._emit(
            fact.at,
            JobLogEvent(job_id=self.job_id, level=level, step=step, message=fact.message, timestamp=fact.timestamp),
            attempt=attempt,
        )
        if fact.level >= logging.WARNING and attempt == self.attempt:
            self._emit(
                fact.at,
                WarningEvent(job_id=self.job_id, step=step, kind="log", message=fact.message, timestamp=fact.timestamp),
            )

    def _end(self, fact: RunEnd) -> None:
        outcome = self.outcomes.get(fact.flow_run_id, Outcome())
        data: ApiModel
        if fact.type == StateType.COMPLETED:
            duration = (fact.ended_at - fact.started_at).total_seconds() if fact.started_at else None
            data = JobCompletedEvent(
                job_id=self.job_id,
                status="completed",
                artifacts=outcome.artifacts,
                duration_seconds=round(duration, 3) if duration is not None else None,
            )
        elif fact.type == StateType.CANCELLED:
            data = JobCancelledEvent(job_id=self.job_id, status="cancelled", stage=self.stage, timestamp=fact.ended_at)
        else:
            error = outcome.error or ErrorPublic(
                code="E500-INTERNAL", stage=self.stage, message="the job failed", suggested_actions=[], log_tail=""
            )
            data = JobFailedEvent(
                job_id=self.job_id,
                status="failed",
                error=error,
                can_resume=outcome.can_resume,
                can_retry=self.attempt - 1 < settings.manual_retry_max,
            )
        self._emit(fact.at, data, final=True)

    def _warn_if_stalled(self, now: datetime) -> None:
        if not self.running or self.stall_warned or self.last_progress_at is None:
            return
        stall = timedelta(seconds=settings.stall_seconds)
        if now - self.last_progress_at < stall:
            return
        self.stall_warned = True
        at = self.last_progress_at + stall
        stalled = self.running[-1]
        self._emit(
            at,
            WarningEvent(
                job_id=self.job_id,
                step=stalled,
                kind="stall",
                stall_seconds=settings.stall_seconds,
                message=f"no progress in {' or '.join(self.running)} for {settings.stall_seconds:g} s",
                log_tail=list(self.recent_logs),
                timestamp=at,
            ),
        )

    # Helpers.

    def _update_eta(self, at: datetime) -> None:
        if self.status not in ("running", "queued"):
            self.eta = self.eta_low = self.eta_high = None
            return
        model = self.eta_model()
        waited = model.waited(self.queued_at, self.started_at)
        self.eta = model.remaining(
            self.request,
            self.stage_percents,
            {stage: (at - started).total_seconds() for stage, started in self.stage_started.items()},
            skipped=self.skipped,
            estimator=self.estimator,
            at=at.timestamp(),
            waited=waited,
        )
        self.eta_low, self.eta_high = model.band_for(waited, self.stage).around(self.eta)

    def _status_event(self, at: datetime) -> JobStatusEvent:
        self._update_eta(at)
        return self._snapshot(at)

    def _snapshot(self, at: datetime) -> JobStatusEvent:
        return JobStatusEvent(
            job_id=self.job_id,
            status=self.status,
            stage=self.stage,
            percent=round(self.percent, 2),
            eta_seconds=self.eta,
            eta_low_seconds=self.eta_low,
            eta_high_seconds=self.eta_high,
            attempt=self.attempt,
            timestamp=at,
        )

    def _emit(
        self,
        at: datetime,
        data: ApiModel,
        *,
        final: bool = False,
        artifact_id: UUID | None = None,
        attempt: int | None = None,
    ) -> None:
        stamp = micros(at)
        if stamp < self.last_id.micros:
            log.warning(
                "job %s: a record stored %.3f s late took the next id (%s); raise AURA_EVENTS_SETTLE_SECONDS",
                self.job_id,
                (self.last_id.micros - stamp) / 1e6,
                EVENT_NAMES[type(data)],
            )
            stamp = self.last_id.micros
        event_id = EventId(stamp, self.last_id.n + 1 if stamp == self.last_id.micros else 0)
        self.last_id = event_id
        if artifact_id is not None:
            # The server keeps only a stage's newest progress; so does the replay.
            self.events = [event for event in self.events if event.artifact_id != artifact_id]
        snapshot = data if isinstance(data, JobStatusEvent) else self._snapshot(at)
        event = Emitted(
            id=event_id,
            data=data,
            status=snapshot,
            attempt=attempt or self.attempt,
            final=final,
            artifact_id=artifact_id,
        )
        self.events.append(event)
        self._batch.append(event)
