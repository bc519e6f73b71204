"""Prometheus metrics of one API process (`GET /metrics`).

What this process did is counted by this process, so it adds up across processes: the jobs it
queued, how long those waited for a worker and how long their stages ran, how long the cancels
it sent took to stop FFmpeg, its requests to Prefect, its event-stream clients and the events it
sent. What every process reads alike from Prefect (jobs by status, owners with jobs, webhook
tries by outcome) is a gauge labelled with the process: aggregate it with `max without
(process)`, never a sum.
"""

import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

PROCESS = f"{socket.gethostname()}:{os.getpid()}"
# A short job starts within seconds on an idle worker; a queue can hold jobs for an hour.
WAIT_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
# A brief's stage takes a tenth of a second; a 1080p render, minutes.
STAGE_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800)
# A cancel stops FFmpeg within a second; Prefect's own path, when the flow could not, takes 5 s or more.
CANCEL_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)


@dataclass(frozen=True)
class Snapshot:
    """The process's state when scraped, as plain numbers."""

    jobs_by_status: dict[str, int]
    owners_with_active_jobs: int
    jobs_copy_age_seconds: float
    prefect_requests: dict[str, int]  # by reader: "poller", "jobs_copy"
    watched_jobs: int
    stream_clients: int
    events_sent: int
    webhook_tries: dict[str, int]  # by outcome, as Prefect holds them (`api.webhooks.tally`)


class _Now(Collector):
    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        now = self.snapshot()
        yield _shared(
            "aura_jobs",
            "Jobs by status in Prefect, as this process's copy holds them (the same in every process).",
            "status",
            now.jobs_by_status,
        )
        yield _gauge("aura_job_owners", "Owners with a queued or running job.", now.owners_with_active_jobs)
        yield _gauge(
            "aura_jobs_copy_age_seconds",
            "Seconds since this process's copy of the jobs was last refreshed from Prefect.",
            now.jobs_copy_age_seconds,
        )
        requests = CounterMetricFamily(
            "aura_prefect_requests", "Requests this process's background readers sent to Prefect.", labels=["reader"]
        )
        for reader, count in sorted(now.prefect_requests.items()):
            requests.add_metric([reader], count)
        yield requests
        yield GaugeMetricFamily("aura_watched_jobs", "Jobs whose events this process reads.", value=now.watched_jobs)
        yield GaugeMetricFamily(
            "aura_stream_clients", "Event-stream (SSE) clients connected to this process.", value=now.stream_clients
        )
        yield CounterMetricFamily("aura_events_sent", "Job events sent to stream clients.", value=now.events_sent)
        yield _shared(
            "aura_webhook_tries",
            "Webhook delivery tries by outcome, as Prefect holds them (the same in every process).",
            "outcome",
            now.webhook_tries,
        )


def _shared(name: str, documentation: str, label: str, values: dict[str, int]) -> GaugeMetricFamily:
    """Shared state by `label`, labelled with this process too: aggregate with `max without (process)`."""
    gauge = GaugeMetricFamily(name, documentation, labels=[label, "process"])
    for key, value in sorted(values.items()):
        gauge.add_metric([key, PROCESS], value)
    return gauge


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(name, documentation, labels=["process"])
    gauge.add_metric([PROCESS], value)
    return gauge


class ServiceMetrics:
    """One API process's registry: what the service counts as it goes, and a snapshot taken at scrape time."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.submitted = Counter("aura_jobs_submitted", "Jobs queued through this process.", registry=self.registry)
        self.replayed = Counter(
            "aura_jobs_replayed",
            "Creates answered with the job an Idempotency-Key already named; nothing queued.",
            registry=self.registry,
        )
        self.start_wait = Histogram(
            "aura_job_start_wait_seconds",
            "Created → running, of the jobs queued through this process: the wait for a worker slot.",
            buckets=WAIT_BUCKETS,
            registry=self.registry,
        )
        self.stage_seconds = Histogram(
            "aura_stage_duration_seconds",
            "Run time of each stage that ran (not reused), in the attempts queued or retried through this process.",
            labelnames=["stage"],
            buckets=STAGE_BUCKETS,
            registry=self.registry,
        )
        self.cancel_stop = Histogram(
            "aura_cancel_stop_seconds",
            "Cancel request → the running job recorded Cancelled, which it does once its work, FFmpeg "
            "included, has stopped; for the cancels sent through this process.",
            buckets=CANCEL_BUCKETS,
            registry=self.registry,
        )

    def read_at_scrape(self, snapshot: Callable[[], Snapshot]) -> None:
        self.registry.register(_Now(snapshot))

    def render(self) -> bytes:
        return generate_latest(self.registry)
