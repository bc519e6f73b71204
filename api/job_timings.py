"""The times this process reports of the jobs it handles: submit → running, each stage's run time,
and cancel → stopped (`api.metrics`).

Each is counted once across API processes: the wait to start by the process whose copy of the
jobs saw the run start, the stage times by the process that made the run, a cancel's time by the
process that sent it.
"""

import asyncio
import logging
from datetime import datetime
from uuid import UUID

import httpx
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import FlowRun
from prefect.exceptions import PrefectHTTPStatusError

from api.metrics import ServiceMetrics

# Prefect writes task runs from their events a moment after the flow run ends (0.6-2 s measured).
TASK_RUNS_SETTLE_SECONDS = 3.0
log = logging.getLogger("aura.service")


class JobTimings:
    """Fed by the jobs copy (a run started, a run ended) and by the service (a run made, a cancel sent)."""

    def __init__(self, client: PrefectClient, metrics: ServiceMetrics) -> None:
        self.client = client
        self.metrics = metrics
        self._made_here: set[UUID] = set()
        self._cancels: dict[UUID, datetime] = {}
        self._reading_stages: set[asyncio.Task[None]] = set()

    def made(self, flow_run_id: UUID) -> None:
        self._made_here.add(flow_run_id)

    def cancel_sent(self, flow_run_id: UUID, at: datetime) -> None:
        self._cancels[flow_run_id] = at

    def started(self, flow_run: FlowRun) -> None:
        if flow_run.start_time and flow_run.created:
            self.metrics.start_wait.observe(max(0.0, (flow_run.start_time - flow_run.created).total_seconds()))

    def finished(self, flow_run: FlowRun) -> None:
        asked_at = self._cancels.pop(flow_run.id, None)
        if asked_at is not None and flow_run.state is not None and flow_run.state.is_cancelled():
            self.metrics.cancel_stop.observe(max(0.0, (flow_run.state.timestamp - asked_at).total_seconds()))
        if flow_run.id in self._made_here:
            self._made_here.discard(flow_run.id)
            reading = asyncio.get_running_loop().create_task(self._observe_stages(flow_run.id))
            self._reading_stages.add(reading)
            reading.add_done_callback(self._reading_stages.discard)

    async def _observe_stages(self, flow_run_id: UUID) -> None:
        """Each stage's run time, once Prefect has recorded the last one (task runs come a moment late)."""
        await asyncio.sleep(TASK_RUNS_SETTLE_SECONDS)
        try:
            task_runs = await self.client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
        except (httpx.HTTPError, PrefectHTTPStatusError) as exc:
            log.warning("the stage times of flow run %s were not read: %s", flow_run_id, exc)
            return
        for task_run in task_runs:
            state = task_run.state
            if state and state.name == "Completed" and task_run.start_time and task_run.end_time:
                seconds = (task_run.end_time - task_run.start_time).total_seconds()
                self.metrics.stage_seconds.labels(stage=task_run.name).observe(seconds)
