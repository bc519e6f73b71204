"""The job service of one API process: the job model and the event pipeline, kept in step.

It owns the process's Prefect clients, its copy of the jobs (`api.jobs.index`) and its
event poller (`api.events.poller`), and is the only thing routes call. Every write goes
through here, so the copy and the poller hear of it at once: a submitted job is in the
copy before its `202`, a retried job's stream waits for the new attempt, a job whose
stream saw it end is read again from Prefect. Nothing in here knows HTTP: errors are
the job model's (`api.jobs.errors`), answered by `api.problems`.
"""

import asyncio
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import httpx
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import FlowRun

from api.events.poller import Feed, Poller
from api.job_timings import JobTimings
from api.jobs import commands, idempotency
from api.jobs.body import job_public, progress_public, running_eta
from api.jobs.errors import JobNotFound
from api.jobs.fair_share import InLine, Queues
from api.jobs.index import EARLIEST, JobIndex
from api.jobs.logs import read_logs
from api.jobs.outputs import output_file
from api.jobs.queue_plan import Place, Waiting, plan
from api.jobs.runs import JobRuns, check_job_id, deployment_id, prefect_ui, read_job_runs
from api.keys import Caller
from api.metrics import ServiceMetrics, Snapshot
from api.prefect_client import PrefectBusy, RequestCounter, api_client, counting_client, in_time
from api.readiness import missing_parts
from api.schemas.events import EventsStats
from api.schemas.jobs import (
    JobCreated,
    JobLinks,
    JobPublic,
    JobsPublic,
    JobStatus,
    JobStatusPublic,
    LogsPublic,
    ProgressPublic,
    QueuePublic,
)
from api.schemas.system import CleanupStarted, HealthPublic, StoragePublic
from api.schemas.webhooks import WebhookAttempts, WebhookSecret
from api.settings import settings
from api.webhooks.attempts import read_record
from api.webhooks.checks import check_webhook
from api.webhooks.secrets import rotate_secret
from api.webhooks.tally import WebhookTally
from flows.contract.deployments import CLEANUP_DEPLOYMENT, queue_name, run_url
from flows.contract.errors import InvalidRequest
from flows.contract.layout import folder_bytes, reusable_stages
from flows.contract.request import VideoRequest
from flows.contract.status import job_id_of, owner_of, status_of
from flows.providers import espeak
from flows.settings import settings as pipeline

STORAGE_FOLDERS = ("jobs", "temp", "proxy", "results")
QUEUE_VIEW_LIMIT = 200
T = TypeVar("T")
NOT_TWICE = (
    "Send it again with the same Idempotency-Key: no job is queued twice. "
    "Without one, look for it in GET /api/jobs first."
)


def turn_of(flow_run: FlowRun) -> datetime:
    """When a queued run's turn comes: the scheduled time workers take runs by, which a turn may have moved up."""
    return flow_run.next_scheduled_start_time or flow_run.expected_start_time or EARLIEST


def links(job_id: str, prefect_url: str | None) -> JobLinks:
    base = f"/api/jobs/{job_id}"
    return JobLinks(
        self=base,
        progress=f"{base}/progress",
        events=f"{base}/events",
        cancel=f"{base}/cancel",
        retry=f"{base}/retry",
        prefect=prefect_url,
    )


# How long `/health` trusts what it last read of Prefect's provisioning.
READINESS_SECONDS = 5.0


@dataclass(frozen=True)
class Submitted:
    created: JobCreated
    replayed: bool  # the Idempotency-Key named a job made before: nothing new was queued


@dataclass(frozen=True)
class Submission:
    """One job to queue, with its `Idempotency-Key` if any, and what to call it in an error."""

    request: VideoRequest
    key: str | None
    label: str


class JobService:
    """Give it a client for requests, and a jobs copy and a poller with counting clients of their own."""

    def __init__(self, client: PrefectClient, index: JobIndex, poller: Poller) -> None:
        self.client = client
        self.index = index
        self.poller = poller
        poller.ended = index.ended
        self.metrics = ServiceMetrics()
        self.metrics.read_at_scrape(self.snapshot)
        self.timings = JobTimings(client, self.metrics)
        index.started = self.timings.started
        index.finished = self.timings.finished
        self.webhook_tally = WebhookTally(client)
        self._missing: tuple[float, list[str]] = (-READINESS_SECONDS, [])

    @classmethod
    @asynccontextmanager
    async def running(cls) -> AsyncIterator["JobService"]:
        """A service whose copy and poller run in the background until the block ends."""
        poll_counter, copy_counter = RequestCounter(), RequestCounter()
        async with (
            api_client() as client,
            counting_client(poll_counter) as poll_client,
            counting_client(copy_counter) as copy_client,
        ):
            service = cls(client, JobIndex(copy_client, copy_counter), Poller(poll_client, poll_counter))
            loops = [
                asyncio.create_task(service.poller.run()),
                asyncio.create_task(service.index.loop()),
                asyncio.create_task(service.webhook_tally.loop()),
            ]
            try:
                yield service
            finally:
                for loop in loops:
                    loop.cancel()

    @property
    def ui_url(self) -> str:
        return prefect_ui(self.client)

    def _body(self, runs: JobRuns, places: dict[str, Place] | None = None) -> JobPublic:
        """The job's body; a queued job's place in line is worked out here unless the caller has the places."""
        if places is None and status_of(runs.latest) == "queued":
            places = self._places()
        return job_public(
            runs,
            ui=self.ui_url,
            eta_model=self.poller.eta,
            live_eta=self.poller.live_eta(runs.job_id),
            place=(places or {}).get(runs.job_id),
        )

    def _bodies(self, page: list[JobRuns]) -> list[JobPublic]:
        """The jobs' bodies; the places in line worked out once for the page."""
        places = self._places() if any(status_of(runs.latest) == "queued" for runs in page) else {}
        return [self._body(runs, places) for runs in page]

    def _places(self) -> dict[str, Place]:
        """Every queued job's place in line, from the copy's queued and running jobs of every owner."""
        running_left, waiting = [], []
        now = datetime.now(UTC)
        for runs in self.index.active():
            status = status_of(runs.latest)
            if status != "queued":
                live = self.poller.live_eta(runs.job_id)
                running_left.append(running_eta(runs, self.poller.eta, live, now) if status == "running" else 0.0)
                continue
            request = VideoRequest.model_validate(runs.latest.parameters["request"])
            expected = self.poller.eta.queued_pace * self.poller.eta.expected_total(
                request, reusable_stages(runs.job_id)
            )
            waiting.append(Waiting(runs.job_id, request.priority, turn_of(runs.latest), expected))
        return plan(running_left, waiting, self.poller.eta.startup_seconds)

    def _queues(self) -> Queues:
        """Every owner's queued and running jobs, for a new job's turn (`api.jobs.fair_share`).

        From the copy even when a busy Prefect let it age: a turn from a line a few seconds old is
        nearer the truth than the back of the line."""
        queues = Queues()
        for runs in self.index.active(even_if_old=True):
            owner = owner_of(runs.latest.tags) or ""
            if status_of(runs.latest) != "queued":
                queues.running[owner] += 1
                continue
            # The stored request's field, not a whole validated request: this runs on every submission.
            priority = int(runs.latest.parameters["request"]["priority"])
            queues.lines.setdefault(priority, []).append(InLine(owner, turn_of(runs.latest)))
        return queues

    # Jobs.

    async def create(
        self, request: VideoRequest, *, owner: str, correlation_id: str, idempotency_key: str | None = None
    ) -> Submitted:
        """Queue a job for `owner`; `InvalidRequest` for a voice eSpeak NG lacks, before anything is queued."""
        espeak.check_voice(request.voice_name())
        await check_webhook(self.client, request, owner)
        label = f"the Idempotency-Key {idempotency_key!r}"
        work = self._submit([Submission(request, idempotency_key, label)], owner, correlation_id)
        [submitted] = await _by_deadline(work, "queue the job", NOT_TWICE)
        return submitted

    async def create_batch(
        self, requests: list[VideoRequest], *, owner: str, correlation_id: str, idempotency_key: str | None = None
    ) -> list[Submitted]:
        """Queue every job of a batch, in order, or none if one is invalid; `jobs.<i>` names the invalid one."""
        submissions = []
        for index, request in enumerate(requests):
            try:
                espeak.check_voice(request.voice_name())
                await check_webhook(self.client, request, owner)
            except InvalidRequest as exc:
                raise type(exc)(f"jobs.{index}.{exc.message}") from exc
            key = idempotency.item_key(idempotency_key, index) if idempotency_key else None
            submissions.append(Submission(request, key, f"the Idempotency-Key {idempotency_key!r} (jobs.{index})"))
        # No write deadline: up to 100 runs go in one Prefect transaction, whose answer (all queued, or
        # none) matters more to a bulk import than an early "it may still take effect".
        return await self._submit(submissions, owner, correlation_id)

    async def _submit(self, submissions: list[Submission], owner: str, correlation_id: str) -> list[Submitted]:
        """Queue the submissions in order; one whose key names a live job gives that job back instead."""
        keys = {index: item.key for index, item in enumerate(submissions) if item.key}
        claims = dict(zip(keys, await idempotency.claim_all(self.client, owner, list(keys.values())), strict=True))
        existing = {index: claim.existing for index, claim in claims.items() if claim.existing}
        for index, flow_run in existing.items():
            idempotency.check_same_request(flow_run, submissions[index].request, submissions[index].label)
        new = {}
        for index, item in enumerate(submissions):
            if index not in existing:
                job_id = str(uuid.uuid4())
                key = claims[index].prefect_key if index in claims else idempotency.own_key(job_id)
                new[index] = commands.NewJob(item.request, job_id, key)
        await commands.check_queue_room(self.client, owner, adding=len(new))
        runs = await commands.submit_new(
            self.client, list(new.values()), owner=owner, correlation_id=correlation_id, queues=self._queues()
        )
        # The runs as read after their turns were taken: newer than what a refresh begun before could hold.
        submitted_at = time.monotonic()
        made = dict(zip(new, runs, strict=True))
        answers = []
        for index, item in enumerate(submissions):
            if index in existing:
                answers.append(Submitted(self._created(existing[index]), replayed=True))
                continue
            flow_run = made[index]
            # Prefect handed back a run made for another job id: another process won the race for this key.
            replayed = job_id_of(flow_run) != new[index].job_id
            if replayed:
                idempotency.check_same_request(flow_run, item.request, item.label)
            else:
                self.index.add(flow_run, submitted_at)
                self.timings.made(flow_run.id)
            answers.append(Submitted(self._created(flow_run), replayed=replayed))
        self.metrics.submitted.inc(sum(not answer.replayed for answer in answers))
        self.metrics.replayed.inc(sum(answer.replayed for answer in answers))
        return answers

    def _created(self, flow_run: FlowRun) -> JobCreated:
        job_id = job_id_of(flow_run)
        return JobCreated(
            job_id=job_id,
            status="queued",
            correlation_id=flow_run.parameters["correlation_id"],
            links=links(job_id, run_url(self.ui_url, flow_run.id)),
        )

    async def read(self, job_id: str, who: Caller) -> JobPublic:
        return self._body(await self.index.read(job_id, who))

    async def page(self, who: Caller, *, statuses: list[JobStatus] | None, limit: int, offset: int) -> JobsPublic:
        page, total = await self.index.page(who, statuses=list(statuses or []), limit=limit, offset=offset)
        return JobsPublic(jobs=self._bodies(page), total=total, stats=await self.index.stats(who))

    async def queue(self, who: Caller) -> QueuePublic:
        """Queued and running jobs in the order they are served (priority, then age), and the stats."""
        runs, _ = await self.index.page(
            who, statuses=["queued", "running", "cancelling"], limit=QUEUE_VIEW_LIMIT, offset=0
        )
        page = self._bodies(runs)
        page.sort(key=lambda job: (job.status == "queued", job.queue_position or 0, job.priority, job.created_at))
        return QueuePublic(jobs=page, stats=await self.index.stats(who))

    async def progress(self, job_id: str, who: Caller) -> ProgressPublic:
        runs = await self.index.read(job_id, who)
        return progress_public(runs, self._body(runs))

    async def logs(self, job_id: str, who: Caller, *, after: datetime | None, limit: int) -> LogsPublic:
        return await read_logs(self.client, await read_job_runs(self.client, job_id, who), after=after, limit=limit)

    async def webhook_attempts(self, job_id: str, who: Caller) -> WebhookAttempts:
        await self.index.read(job_id, who)
        record = await read_record(self.client, job_id)
        return WebhookAttempts(job_id=job_id, attempts=record.attempts)

    async def rotate_webhook_secret(self, who: Caller) -> WebhookSecret:
        return WebhookSecret(secret=await rotate_secret(self.client, who.owner), owner=who.owner)

    async def output(self, job_id: str, name: str, who: Caller) -> tuple[str, str]:
        """The path and media type of a job's output file, if `who` may read it."""
        check_job_id(job_id)
        if not who.admin:
            # Whose job it is lives in Prefect; an admin may read any, so the video's range requests skip the lookup.
            await self.index.read(job_id, who)
        path, media_type = output_file(job_id, name)
        return str(path), media_type

    async def cancel(self, job_id: str, who: Caller) -> JobStatusPublic:
        again = f"GET /api/jobs/{job_id} tells whether it did; a cancel sent again is harmless."
        return await _by_deadline(self._cancel(job_id, who), "cancel the job", again)

    async def _cancel(self, job_id: str, who: Caller) -> JobStatusPublic:
        asked_at = datetime.now(UTC)
        status, flow_run_id = await commands.cancel(self.client, job_id, who)
        if status == "cancelling":
            self.timings.cancel_sent(flow_run_id, asked_at)
            self.index.follow(flow_run_id)
        await self.index.reload(job_id, who)
        return JobStatusPublic(job_id=job_id, status=status)

    async def retry(self, job_id: str, who: Caller, *, correlation_id: str) -> JobPublic:
        again = f"GET /api/jobs/{job_id} tells whether it did; a retry sent again never starts a second attempt."
        return await _by_deadline(self._retry(job_id, who, correlation_id), "start the next attempt", again)

    async def _retry(self, job_id: str, who: Caller, correlation_id: str) -> JobPublic:
        flow_run = await commands.retry(self.client, job_id, who, correlation_id=correlation_id, queues=self._queues())
        self.poller.saw_run(flow_run)
        self.timings.made(flow_run.id)
        self.index.follow(flow_run.id)
        return self._body(await self.index.reload(job_id, who))

    # Events.

    async def feed(self, job_id: str, who: Caller) -> Feed:
        """The job's event feed, shared by every client of this process that watches it."""
        feed = await self.poller.watch(job_id)
        if not who.may_see(feed.owner):
            raise JobNotFound(job_id)
        return feed

    def snapshot(self) -> Snapshot:
        """What `GET /metrics` shows of this process now: the event stats, and the jobs copy's counts."""
        events = self.stats()
        return Snapshot(
            jobs_by_status=self.index.counts(),
            owners_with_active_jobs=self.index.active_owners(),
            jobs_copy_age_seconds=self.index.age_seconds,
            prefect_requests={"poller": events.prefect_requests, "jobs_copy": events.copy_requests},
            watched_jobs=events.watched_jobs,
            stream_clients=events.subscribers,
            events_sent=self.poller.events_sent,
            webhook_tries=self.webhook_tally.tries,
        )

    def stats(self) -> EventsStats:
        poller = self.poller
        return EventsStats(
            watched_jobs=len(poller.feeds),
            subscribers=poller.subscriber_count(),
            prefect_requests=poller.counter.count,
            ticks=poller.ticks,
            copy_requests=self.index.counter.count,
        )

    # The service itself.

    async def health(self) -> HealthPublic:
        try:
            prefect_ok = (await self.client.api_healthcheck()) is None
            missing = await self._missing_parts() if prefect_ok else []
        except httpx.HTTPError:
            prefect_ok, missing = False, []
        return HealthPublic(
            status="ok" if prefect_ok and not missing else "degraded",
            prefect=prefect_ok,
            prefect_api_url=str(self.client.api_url),
            missing=missing,
        )

    async def _missing_parts(self) -> list[str]:
        """`readiness.missing_parts`, read again at most every few seconds however often probes ask."""
        read_at, missing = self._missing
        if time.monotonic() - read_at >= READINESS_SECONDS:
            missing = await missing_parts(self.client)
            self._missing = (time.monotonic(), missing)
        return missing

    async def start_cleanup(self) -> CleanupStarted:
        """Run the cleanup sweep now, as a flow run of its deployment."""
        again = "Prefect's UI lists the cleanup runs; a cleanup sent again is harmless."
        return await _by_deadline(self._start_cleanup(), "start the cleanup", again)

    async def _start_cleanup(self) -> CleanupStarted:
        flow_run = await self.client.create_flow_run_from_deployment(
            await deployment_id(self.client, CLEANUP_DEPLOYMENT), work_queue_name=queue_name(1)
        )
        return CleanupStarted(flow_run_id=str(flow_run.id), prefect_url=run_url(self.ui_url, flow_run.id))


async def _by_deadline(work: Awaitable[T], what: str, suggestion: str) -> T:
    """`work` within the write deadline, or a busy answer saying it may still take effect."""
    seconds = settings.write_deadline_seconds
    busy = PrefectBusy(f"Prefect took over {seconds:g} s to {what}; it may still take effect", suggestion)
    return await in_time(work, seconds, busy)


def storage_usage() -> StoragePublic:
    """Bytes used under the storage root, per folder."""
    root = pipeline.home
    sizes = {name: folder_bytes(root / name) if (root / name).is_dir() else 0 for name in STORAGE_FOLDERS}
    jobs_dir = root / "jobs"
    count = sum(1 for path in jobs_dir.iterdir() if path.is_dir()) if jobs_dir.is_dir() else 0
    root.mkdir(parents=True, exist_ok=True)
    return StoragePublic(
        root=str(root),
        total_bytes=sum(sizes.values()),
        folders=sizes,
        jobs=count,
        disk_free_bytes=shutil.disk_usage(root).free,
    )
