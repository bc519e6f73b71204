"""Run one job in this process with a live progress bar; Ctrl-C cancels it.

The flow runs in a worker thread so the main thread stays free to draw the
bar (read back from Prefect, as any other watcher would) and to take Ctrl-C.
On Ctrl-C the flow run is set Cancelling in Prefect, so the Prefect UI shows
it, and the job's cancel flag is raised directly, since it runs here.
"""

import threading
import uuid
from typing import Any
from uuid import UUID

from prefect import State
from prefect.client.orchestration import get_client
from prefect.states import Cancelling
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from api.cli import exit_codes
from api.jobs.progress import Snapshot, find_flow_run, read_snapshot
from flows.contract.layout import job_folders
from flows.contract.request import VideoRequest
from flows.runtime.cancellation import request_cancel, settle_cancelled
from flows.video import generate_video

# The bar redraws itself meanwhile; each read costs the Prefect server CPU the render could use.
POLL_SECONDS = 0.5
CANCEL_WAIT_SECONDS = 30.0


class _FlowThread(threading.Thread):
    def __init__(self, request: VideoRequest, job_id: str) -> None:
        super().__init__(name=f"flow-{job_id}", daemon=True)
        self.request = request
        self.job_id = job_id
        # Made as the API makes one for a request without `X-Correlation-ID`; every log line of the job carries it.
        self.correlation_id = uuid.uuid4().hex
        self.state: State | None = None

    def run(self) -> None:
        self.state = generate_video(
            self.request, job_id=self.job_id, correlation_id=self.correlation_id, return_state=True
        )


def run_job(request: VideoRequest, *, job_id: str, ui_url: str, console: Console) -> int:
    """Run the job to its end; return the process exit code."""
    runner = _FlowThread(request, job_id)
    runner.start()
    flow_run_id: UUID | None = None
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.fields[stage]:<8}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[message]}"),
    )
    with get_client(sync_client=True) as client, Progress(*columns, console=console) as bar:
        task = bar.add_task("job", total=100, stage="queued", message=job_id)
        try:
            while runner.is_alive():
                flow_run_id = flow_run_id or _flow_run_id(client, job_id)
                if flow_run_id:
                    _draw(bar, task, read_snapshot(client, flow_run_id))
                runner.join(POLL_SECONDS)
        except KeyboardInterrupt:
            bar.update(task, message="cancelling…")
            flow_run_id = flow_run_id or _wait_for_flow_run(client, job_id, runner)
            if flow_run_id:
                client.set_flow_run_state(flow_run_id, Cancelling(message="Ctrl-C"), force=True)
                request_cancel(str(flow_run_id))
            runner.join(CANCEL_WAIT_SECONDS)
            if flow_run_id and not runner.is_alive():
                settle_cancelled(str(flow_run_id), reason="cancelled with Ctrl-C")
        flow_run_id = flow_run_id or _flow_run_id(client, job_id)
        if flow_run_id:
            _draw(bar, task, read_snapshot(client, flow_run_id))
    return _report(runner.state, job_id, flow_run_id, ui_url, console)


def _flow_run_id(client: Any, job_id: str) -> UUID | None:
    flow_run = find_flow_run(client, job_id)
    return flow_run.id if flow_run else None


def _wait_for_flow_run(client: Any, job_id: str, runner: threading.Thread) -> UUID | None:
    while runner.is_alive():
        if flow_run_id := _flow_run_id(client, job_id):
            return flow_run_id
        runner.join(POLL_SECONDS)
    return None


def _draw(bar: Progress, task: TaskID, snapshot: Snapshot) -> None:
    bar.update(
        task, completed=snapshot.percent, stage=snapshot.stage or snapshot.state.lower(), message=snapshot.message
    )


def _report(state: State | None, job_id: str, flow_run_id: UUID | None, ui_url: str, console: Console) -> int:
    run_link = f"{ui_url}/runs/flow-run/{flow_run_id}" if flow_run_id else ui_url
    if state is not None and state.is_completed():
        outputs = job_folders(job_id).outputs
        console.print(f"[green]Completed[/green] job {job_id}")
        console.print(f"  video:     {outputs / 'video.mp4'}")
        for label, name in (("subtitles", "video.srt"), ("thumbnail", "thumbnail.jpg"), ("manifest", "manifest.json")):
            if (outputs / name).exists():
                console.print(f"  {label + ':':<10} {outputs / name}")
        console.print(f"  Prefect:   {run_link}")
        return exit_codes.OK
    if state is None or state.is_cancelled():
        console.print(f"[yellow]Cancelled[/yellow] job {job_id}: {run_link}")
        return exit_codes.CANCELLED
    console.print(f"[red]{state.name}[/red] job {job_id}: {state.message}")
    console.print(f"  Prefect:   {run_link}")
    return exit_codes.FAILED
