"""Service settings, read once from `AURA_*` environment variables.

How the API, the command line and the worker processes run: where they listen,
keys and limits, the job copy's and the event poller's timing, the worker pool.
The pipeline's own settings (storage root, retries, render) are `flows.settings`.
"""

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Every knob of the service, with its default."""

    model_config = SettingsConfigDict(env_prefix="AURA_", extra="ignore")

    prefect_port: int = Field(default=4200, ge=1, le=65535, description="Port of the embedded Prefect server.")
    api_host: str = Field(default="127.0.0.1", description="Address the API listens on.")
    api_port: int = Field(default=8000, ge=1, le=65535, description="Port the API listens on.")
    api_url: str = Field(default="http://127.0.0.1:8000", description="The service `aura jobs` talks to.")
    api_max_body_bytes: int = Field(default=64 * 1024, gt=0, description="Largest request body accepted.")
    api_max_batch_body_bytes: int = Field(
        default=1024 * 1024, gt=0, description="Largest body of `POST /api/jobs/batch` (up to 100 jobs)."
    )
    api_keys: str = Field(
        default="",
        description="API keys as `key:owner[:admin]`, comma-separated; authentication is on when any are set.",
    )
    api_keys_file: Path | None = Field(
        default=None, description="A file of API keys, one `key owner [admin]` per line (`#` comments)."
    )
    access_token_seconds: float = Field(
        default=3600.0,
        gt=0,
        le=86400,
        description="Lifetime of the read-only access tokens for URLs (event streams, video, downloads).",
    )
    max_queued_per_owner: int = Field(default=100, ge=1, description="Queued jobs one owner may have; 429 past it.")
    max_queued_total: int = Field(default=1000, ge=1, description="Queued jobs in all; 429 past it.")
    max_running_per_owner: int | None = Field(
        default=None,
        ge=1,
        description="Jobs of one owner running at once, across all workers (unset: no cap). Prefect holds the "
        "others back; set the same value on every API process.",
    )
    cors_origins: list[str] = Field(
        default=[], description="Origins allowed to call the API from a browser (JSON list); none by default."
    )
    prefect_ui_url: str | None = Field(
        default=None, description="Prefect UI base URL for links; derived from PREFECT_API_URL if unset."
    )
    work_pool: str = Field(default="video", description="Prefect work pool the video jobs run on.")
    worker_limit: int = Field(
        default_factory=lambda: os.cpu_count() or 1, ge=1, description="Jobs one worker runs at once."
    )
    worker_query_seconds: float = Field(
        default=0.5, gt=0, description="How often a worker asks Prefect for queued jobs."
    )
    worker_lost_seconds: float = Field(
        default=60.0, ge=45, description="A running job with no heartbeat for this long is failed."
    )
    webhook_allow_private: bool = Field(
        default=False,
        description="Let webhooks reach loopback, private and link-local addresses (a receiver on this machine).",
    )
    webhook_retry_base_seconds: float = Field(
        default=5.0, gt=0, description="Wait after a webhook delivery's first failed try; doubles after each."
    )
    webhook_retry_cap_seconds: float = Field(default=3600.0, gt=0, description="Longest wait between two tries.")
    webhook_give_up_seconds: float = Field(
        default=86400.0, gt=0, description="An event is tried until this long after its first try."
    )
    webhook_sweep_after_seconds: float = Field(
        default=60.0,
        gt=0,
        description="The minutely sweep starts deliveries for jobs that ended this long ago and whose "
        "deliveries no automation started.",
    )
    webhook_pool: str = Field(default="webhooks", description="Prefect work pool the webhook deliveries run on.")
    webhook_worker_limit: int = Field(
        default=4,
        ge=0,
        description="Deliveries one `aura worker`/`aura serve` runs at once, on a worker of their own "
        "beside the video worker; 0 starts none (another machine delivers).",
    )
    pending_lost_seconds: float = Field(
        default=300.0,
        ge=10,
        description="A run still pending this long (its worker stopped before starting it) is queued again. "
        "Keep it well above the time a busy worker takes to start a run: queued again, a run its worker is "
        "still starting stops that worker.",
    )
    manual_retry_max: int = Field(default=3, ge=0, description="Retries a user may ask for per job.")
    manual_retry_base_seconds: float = Field(
        default=5.0,
        ge=0,
        description="Manual retry backoff: retry n+1 may start base × 2^n after the last attempt ended "
        "(the first at once; then 10 s, 20 s … with 5).",
    )
    manual_retry_cap_seconds: float = Field(default=300.0, ge=0, description="Longest wait between manual retries.")
    write_deadline_seconds: float = Field(
        default=4.0,
        gt=0,
        description="A write (a new job, a cancel, a retry, a cleanup; not a batch) Prefect has not carried "
        "out in this long is answered 503 E503-PREFECT_BUSY with Retry-After; the write goes on and takes effect.",
    )
    job_index_seconds: float = Field(
        default=1.0,
        gt=0,
        description="How often each API process refreshes its copy of the jobs, which reads answer "
        "from: another process's changes show this much later.",
    )
    job_index_max_age_seconds: float = Field(
        default=3.0,
        gt=0,
        description="A copy not refreshed for this long (Prefect away) is not used: reads go to "
        "Prefect, and answer 503 while it is away.",
    )
    job_index_resync_seconds: float = Field(
        default=300.0,
        gt=0,
        description="How often the copy is read whole again (it then drops jobs deleted in Prefect).",
    )
    events_poll_seconds: float = Field(
        default=0.5, gt=0, description="How often the API reads new log lines and progress of the jobs it streams."
    )
    events_min_poll_seconds: float = Field(
        default=0.05, gt=0, description="Least time between two polls, when state changes bring one forward."
    )
    events_max_polls_per_second: float = Field(
        default=4.0,
        ge=1,
        description="Polls a second at most, the regular ones included, in bursts of as many: state changes "
        "of one job bring polls forward at once, those of many jobs at this rate.",
    )
    events_full_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        description="How often polls also read flow and task runs (every poll while Prefect's event stream is down).",
    )
    events_settle_seconds: float = Field(
        default=0.05,
        ge=0,
        description="Events are sent once they are this much older than the last poll, so records stored a "
        "little late still take their place in order.",
    )
    events_end_grace_seconds: float = Field(
        default=3.0,
        ge=0,
        description="The terminal event waits this long after the run ends for its last log lines "
        "(Prefect sends logs in batches every 2 s).",
    )
    events_log_lookback_seconds: float = Field(
        default=15.0, gt=0, description="How far back each poll looks for log lines that arrived late."
    )
    events_ping_seconds: float = Field(default=10.0, gt=0, description="A `: ping` comment after this long idle.")
    events_retry_ms: int = Field(default=3000, ge=0, description="Reconnect delay sent to clients (`retry:`).")
    events_client_buffer: int = Field(
        default=2000, ge=10, description="Events queued for a client that reads slowly before it is dropped."
    )
    events_keep_seconds: float = Field(
        default=30.0, ge=0, description="How long a job with no watchers stays in the API's memory."
    )
    stall_seconds: float = Field(
        default=60.0, gt=0, description="A running stage with no progress for this long gets a `stall` warning."
    )
    eta_history_runs: int = Field(
        default=50, ge=0, le=200, description="Finished jobs the ETA learns stage timings from."
    )
    eta_refresh_seconds: float = Field(default=60.0, gt=0, description="How often the ETA re-reads that history.")


settings = ServiceSettings()
