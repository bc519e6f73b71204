"""Pipeline settings, read once from `AURA_*` environment variables.

What lives here is how a flow run works on this machine: where files go, the
stage retry policy, the render's watchdog, cancellation and progress timing,
the cleanup ages. Values that change per job are flow parameters
(`flows.contract.request`); the service's own settings are `api.settings`.
"""

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Prefect accepts no heartbeat interval under 30 s.
HEARTBEAT_SECONDS = 30


class Settings(BaseSettings):
    """Every knob of the pipeline, with its default."""

    model_config = SettingsConfigDict(env_prefix="AURA_", extra="ignore")

    home: Path = Field(
        default=Path(".aura"),
        description="Storage root: jobs/, temp/, proxy/, results/ and the embedded Prefect server.",
    )
    retry_max: int = Field(default=3, ge=0, le=10, description="Retries per stage.")
    retry_base_seconds: float = Field(default=5.0, ge=0, description="Delay before the first stage retry.")
    retry_cap_seconds: float = Field(default=300.0, ge=0, description="Longest delay between stage retries.")
    retry_jitter: float = Field(default=0.2, ge=0, le=1, description="Each delay varies by up to this fraction.")
    render_stall_seconds: float = Field(default=90.0, gt=0, description="Kill FFmpeg after this long without progress.")
    render_preset: str = Field(default="ultrafast", description="x264 preset used for the final encode.")
    voice_engine: Literal["piper", "espeak"] = Field(
        default="piper",
        description="Narrator of English requests that name no voice: `piper` (neural) or `espeak` (fast drafts).",
    )
    voice_threads: int = Field(
        default_factory=lambda: os.cpu_count() or 1, ge=1, le=64, description="Sentences Piper speaks at once."
    )
    cancel_poll_seconds: float = Field(
        default=0.5, gt=0, description="How often a running job checks for a cancel request."
    )
    progress_interval_seconds: float = Field(
        default=0.25, ge=0, description="Least time between two progress updates of a stage."
    )
    cleanup_temp_hours: float = Field(default=24, ge=0, description="Temp folders older than this are removed.")
    cleanup_proxy_hours: float = Field(default=48, ge=0, description="Proxy folders older than this are removed.")
    cleanup_ended_days: float = Field(
        default=7, ge=0, description="Outputs and results of failed or cancelled jobs older than this are removed."
    )

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        # Flow runs may start in another working directory (a worker's), so
        # the root is fixed as an absolute path when the settings are read.
        return value.expanduser().resolve()

    @field_validator("retry_cap_seconds")
    @classmethod
    def _cap_not_below_base(cls, value: float, info: ValidationInfo) -> float:
        base = info.data.get("retry_base_seconds", 0.0)
        if value < base:
            raise ValueError(f"must be at least AURA_RETRY_BASE_SECONDS ({base})")
        return value

    def prefect_env(self) -> dict[str, str]:
        """Prefect settings every process that runs flows needs; set before Prefect is imported.

        Persisted stage results (for resume) go under `results/`, next to the files they describe.
        Heartbeats let the worker-lost automation notice a run whose process or machine died: a run
        in a worker's process or in `aura generate`'s alike. (At Prefect's default of 180 s, the
        automation's 60 s window would fail a healthy run between two heartbeats.)
        """
        return {
            "PREFECT_LOCAL_STORAGE_PATH": str(self.home / "results"),
            "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_SECONDS),
        }


settings = Settings()
